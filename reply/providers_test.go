package reply_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/reply"
	"github.com/parley-chat/parley/seal"
)

func testBox(t *testing.T) *seal.Box {
	key, err := seal.ParseKey(seal.NewKey())
	require.NoError(t, err)
	box, err := seal.New(key)
	require.NoError(t, err)
	return box
}

// withOperatorKey makes workers whose default endpoint is the engine's test
// server, called with the operator's key "operator-key".
func withOperatorKey(endpoints parley.EndpointPolicy, box *seal.Box) func(reply.Store, *llmtest.Server) *reply.Worker {
	return func(st reply.Store, srv *llmtest.Server) *reply.Worker {
		return &reply.Worker{Store: st, Providers: &reply.Providers{
			Default:   llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), APIKey: "operator-key", MaxRetries: -1}),
			Endpoints: endpoints, Keys: box}}
	}
}

// TestOperatorKeyStaysWithDefaultEndpoint: the server's default endpoint
// gets the operator's key; a bot's own endpoint gets the bot's own key, or
// no Authorization at all, never the operator's.
func TestOperatorKeyStaysWithDefaultEndpoint(t *testing.T) {
	t.Parallel()
	box := testBox(t)
	engines(t, withOperatorKey(parley.EndpointPolicy{Mode: parley.EndpointsAll}, box), func(t *testing.T, b *testBundle) {
		keyless, keyed := llmtest.New(t), llmtest.New(t)
		quick := parley.ReplySettings{DebounceMS: ms(0)}
		onDefault := b.conversation(t, parley.Bot{ID: "default-bot", Reply: quick})
		onKeyless := b.conversation(t, parley.Bot{ID: "keyless-bot", Reply: quick,
			Model: parley.ModelSettings{BaseURL: keyless.BaseURL()}})
		onKeyed := b.conversation(t, parley.Bot{ID: "keyed-bot", Reply: quick,
			Model:    parley.ModelSettings{BaseURL: keyed.BaseURL()},
			ModelKey: box.Seal("bot-key", parley.ModelKeyOwner(b.tenant, "keyed-bot"))})
		for _, conv := range []string{onDefault, onKeyless, onKeyed} {
			require.NoError(t, b.say(t, conv, "hello", false))
			b.replies(t, conv, 1)
		}
		auth := func(srv *llmtest.Server) []string {
			var out []string
			for _, r := range srv.Requests() {
				out = append(out, r.Authorization)
			}
			return out
		}
		require.Equal(t, []string{"Bearer operator-key"}, auth(b.llm))
		require.Equal(t, []string{""}, auth(keyless), "a bot's endpoint never gets the operator's key")
		require.Equal(t, []string{"Bearer bot-key"}, auth(keyed))
	})
}

// TestEndpointNotAllowed: a bot of a tenant the operator does not let name
// its own endpoint (one made before the setting, or written to the store
// directly) is not answered through that endpoint: its reply fails at once
// with the reason, and the endpoint hears nothing. The same for a key that
// was sealed for another bot.
func TestEndpointNotAllowed(t *testing.T) {
	t.Parallel()
	box := testBox(t)
	endpoints := parley.EndpointPolicy{Mode: parley.EndpointsOperator, OperatorTenant: "the-operators-tenant"}
	engines(t, withOperatorKey(endpoints, box), func(t *testing.T, b *testBundle) {
		theirs := llmtest.New(t)
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)},
			Model: parley.ModelSettings{BaseURL: theirs.BaseURL()}})
		require.NoError(t, b.say(t, conv, "hello", false))
		require.Eventually(t, func() bool {
			msgs := b.messages(t, conv)
			return len(msgs) == 1 && msgs[0].Status == parley.StatusReplyFailed
		}, 5*time.Second, 20*time.Millisecond, "failed on the first attempt: retries are 10 ms apart, so this also passes with them; the endpoint's silence is what matters")
		events, err := b.st.ListEvents(b.ctx, b.tenant, conv, 0, 10)
		require.NoError(t, err)
		require.Equal(t, parley.EventReplyFailed, events[len(events)-1].Type)
		require.Contains(t, string(events[len(events)-1].Data), "PARLEY_BOT_ENDPOINTS")
		require.Empty(t, theirs.Requests())
		require.Empty(t, b.llm.Requests(), "no silent fall-back to the operator's endpoint")
	})
}

func TestProvidersFor(t *testing.T) {
	t.Parallel()
	box := testBox(t)
	p := &reply.Providers{Endpoints: parley.EndpointPolicy{Mode: parley.EndpointsAll}, Keys: box}
	bot := parley.Bot{ID: "b", Model: parley.ModelSettings{BaseURL: "https://models.example/v1"},
		ModelKey: box.Seal("k", parley.ModelKeyOwner("t1", "b"))}
	_, _, err := p.For("t1", bot)
	require.NoError(t, err)
	_, _, err = p.For("t2", bot)
	require.ErrorIs(t, err, seal.ErrOpen, "a sealed key copied to another tenant's bot does not open")
	noKeys := &reply.Providers{Endpoints: parley.EndpointPolicy{Mode: parley.EndpointsAll}}
	_, _, err = noKeys.For("t1", bot)
	require.Error(t, err)
	prov, model, err := (&reply.Providers{}).For("t1", parley.Bot{Model: parley.ModelSettings{Provider: "builtin"}})
	require.NoError(t, err)
	require.Equal(t, "builtin", model)
	require.IsType(t, llm.Builtin{}, prov)
}
