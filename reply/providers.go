package reply

import (
	"net/http"
	"sync"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/seal"
)

// Providers picks the model endpoint of each bot: the bot's own base URL
// and model when it sets them (and the operator lets its tenant), else the
// server's default endpoint, else the built-in offline responder.
//
// The default endpoint's key goes only to the default endpoint. A bot's own
// endpoint is called with the bot's own key, or with none: the operator's
// key must never reach an address a tenant chose.
type Providers struct {
	Default      llm.Provider // nil: the built-in responder
	DefaultModel string
	// Endpoints says which tenants' bots may use their own base URL; a bot
	// that names one without being allowed gets no reply (its reply fails
	// with the reason) rather than a silent fall-back to the default.
	Endpoints parley.EndpointPolicy
	// Keys opens bots' sealed model keys; nil when the server has no
	// secret key, and then no bot has one.
	Keys *seal.Box
	// Egress is the HTTP client for endpoints that bots configure: tenants
	// must not reach private addresses through it unless allowed.
	Egress *http.Client

	mu     sync.Mutex
	perBot map[endpointKey]*llm.OpenAI
}

// endpointKey identifies a client: the same URL with another key is
// another client.
type endpointKey struct{ baseURL, sealedKey string }

// maxClients bounds the clients kept for bots' own endpoints; past it the
// cache starts again (a client is cheap to make, it only keeps a pool).
const maxClients = 1000

// For returns the provider and model of a tenant's bot. Its error says why
// the bot cannot be answered at all (the endpoint is not allowed, its key
// does not open): retrying does not help.
func (p *Providers) For(tenantID string, b parley.Bot) (llm.Provider, string, error) {
	model := firstNonEmpty(b.Model.Model, p.DefaultModel)
	switch {
	case b.Model.Provider == "builtin":
		return llm.Builtin{}, "builtin", nil
	case b.Model.BaseURL != "":
		if !p.Endpoints.Allows(tenantID) {
			return nil, "", parley.FieldError(parley.EFORBIDDEN, "model.base_url",
				"this server does not let this tenant's bots use their own model endpoint (PARLEY_BOT_ENDPOINTS)")
		}
		apiKey := ""
		if b.ModelKey != "" {
			if p.Keys == nil {
				return nil, "", parley.Errorf(parley.EINVALID, "the bot's model key cannot be opened: the server has no secret key")
			}
			var err error
			if apiKey, err = p.Keys.Open(b.ModelKey, parley.ModelKeyOwner(tenantID, b.ID)); err != nil {
				return nil, "", err
			}
		}
		k := endpointKey{b.Model.BaseURL, b.ModelKey}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.perBot == nil || len(p.perBot) >= maxClients {
			p.perBot = map[endpointKey]*llm.OpenAI{}
		}
		prov, ok := p.perBot[k]
		if !ok {
			prov = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: b.Model.BaseURL, APIKey: apiKey, Model: model, HTTPClient: p.Egress})
			p.perBot[k] = prov
		}
		return prov, model, nil
	case p.Default != nil:
		return p.Default, model, nil
	default:
		return llm.Builtin{}, "builtin", nil
	}
}
