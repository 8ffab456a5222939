// Package storetest is the conformance suite every Parley store passes: the
// whole contract of parley.Store, one file per area (accounts,
// conversations, replies, events, deliveries), entered through Run. A
// behaviour is written once here and proven on each engine, as River's
// driver suite and Litestream's replica-client tests run one suite on every
// backend. The engines' own tests call Run with their Harness.
package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// Harness is how the suite reaches one engine.
type Harness struct {
	// Open returns a new, empty store, closed by the test's cleanup. Its
	// queue must work no jobs: the suite looks at what was queued.
	Open func(t *testing.T) parley.Store
	// Jobs counts the jobs of a kind ("reply", "memory") queued for a
	// conversation of a store that Open returned, from the engine's job
	// table.
	Jobs func(t *testing.T, st parley.Store, kind, conversationID string) int
	// Rows counts the rows of one of the engine's tables ("content_terms",
	// the content library's term index), to check that what is deleted
	// leaves nothing behind.
	Rows func(t *testing.T, st parley.Store, table string) int
}

// Run runs the conformance suite, each area and case as a parallel subtest.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h}
	for _, area := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Accounts", s.accounts},
		{"Conversations", s.conversations},
		{"Replies", s.replies},
		{"Memories", s.memories},
		{"Content", s.content},
		{"Audit", s.audit},
		{"Retention", s.retention},
		{"Events", s.events},
		{"Deliveries", s.deliveries},
	} {
		t.Run(area.name, area.run)
	}
}

type suite struct{ h Harness }

type testBundle struct {
	store parley.Store
	ctx   context.Context
	t1    *parley.Tenant // the tenant under test
	t2    *parley.Tenant // another tenant, whose data t1 must never see
}

// setup opens a store with two tenants.
func (s *suite) setup(t *testing.T) *testBundle {
	t.Helper()
	st := s.h.Open(t)
	ctx := context.Background()
	t1, err := st.EnsureTenant(ctx, "acme")
	require.NoError(t, err)
	t2, err := st.EnsureTenant(ctx, "globex")
	require.NoError(t, err)
	return &testBundle{store: st, ctx: ctx, t1: t1, t2: t2}
}

// conversation gets or makes the conversation of a bot (made if needed)
// and a user (made if needed) of the tenant.
func conversation(t *testing.T, b *testBundle, tenant *parley.Tenant, bot, user string) *parley.Conversation {
	t.Helper()
	if _, err := b.store.GetBot(b.ctx, tenant.ID, bot); parley.ErrorCode(err) == parley.ENOTFOUND {
		_, err := b.store.CreateBot(b.ctx, tenant.ID, &parley.Bot{ID: bot, Name: bot})
		require.NoError(t, err)
	}
	c, _, err := b.store.GetOrCreateConversation(b.ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: bot, UserID: user}, CreateUser: true})
	require.NoError(t, err)
	return c
}

// appendText appends a user message.
func appendText(t *testing.T, b *testBundle, tenant *parley.Tenant, convID, text string) *parley.Message {
	t.Helper()
	res, err := b.store.AppendMessage(b.ctx, tenant.ID, convID, parley.NewMessage{Text: text, Bubbles: []string{text}})
	require.NoError(t, err)
	return res.Message
}

func fieldOf(err error) string {
	if e, ok := err.(*parley.Error); ok {
		return e.Field
	}
	return ""
}

func botIDs(bs []parley.Bot) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

func convIDs(cs []parley.Conversation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// NewConversation makes a tenant "t", a bot "bot" and the bot's
// conversation with a user "u" in st.
func NewConversation(t *testing.T, st parley.Store) (*parley.Tenant, *parley.Conversation) {
	t.Helper()
	ctx := context.Background()
	tenant, err := st.EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "u"}, CreateUser: true})
	require.NoError(t, err)
	return tenant, c
}
