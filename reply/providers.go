package reply

import (
	"net/http"
	"sync"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// Providers picks the model endpoint of each bot: the bot's own base URL
// and model when it sets them, else the server's default endpoint, else the
// built-in offline responder.
type Providers struct {
	Default      llm.Provider // nil: the built-in responder
	DefaultModel string
	APIKey       string
	// Egress is the HTTP client for endpoints that bots configure: tenants
	// must not reach private addresses through it unless allowed.
	Egress *http.Client

	mu     sync.Mutex
	perURL map[string]*llm.OpenAI
}

// For returns the provider and model of a bot.
func (p *Providers) For(b parley.Bot) (llm.Provider, string) {
	model := firstNonEmpty(b.Model.Model, p.DefaultModel)
	switch {
	case b.Model.Provider == "builtin":
		return llm.Builtin{}, "builtin"
	case b.Model.BaseURL != "":
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.perURL == nil {
			p.perURL = map[string]*llm.OpenAI{}
		}
		prov, ok := p.perURL[b.Model.BaseURL]
		if !ok {
			prov = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: b.Model.BaseURL, APIKey: p.APIKey, Model: model, HTTPClient: p.Egress})
			p.perURL[b.Model.BaseURL] = prov
		}
		return prov, model
	case p.Default != nil:
		return p.Default, model
	default:
		return llm.Builtin{}, "builtin"
	}
}
