// Package storetest is the conformance suite every Parley store passes. A
// behaviour is written once here and proven on each engine: the engines'
// tests call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// Store is everything a Parley store provides.
type Store interface {
	EnsureTenant(ctx context.Context, name string) (*parley.Tenant, error)
	CreateToken(ctx context.Context, tenantID, name string, admin bool, hash []byte) (*parley.Token, error)
	Authenticate(ctx context.Context, hash []byte) (*parley.Principal, error)
	ListTokens(ctx context.Context, tenantID string) ([]parley.Token, error)
	DeleteToken(ctx context.Context, tenantID, id string) error

	CreateBot(ctx context.Context, tenantID string, b *parley.Bot) (*parley.Bot, error)
	GetBot(ctx context.Context, tenantID, id string) (*parley.Bot, error)
	ListBots(ctx context.Context, tenantID, afterID string, limit int) ([]parley.Bot, error)
	UpdateBot(ctx context.Context, tenantID, id string, p parley.BotPatch) (*parley.Bot, error)
	DeleteBot(ctx context.Context, tenantID, id string) error

	GetUser(ctx context.Context, tenantID, id string) (*parley.User, error)
	PutUser(ctx context.Context, tenantID string, u *parley.User) (*parley.User, bool, error)
	PatchUser(ctx context.Context, tenantID, id string, p parley.UserPatch) (*parley.User, error)
	DeleteUser(ctx context.Context, tenantID, id string) error

	GetOrCreateConversation(ctx context.Context, tenantID string, nc parley.NewConversation) (*parley.Conversation, bool, error)
	UpdateConversation(ctx context.Context, tenantID, id, webhook, platform, language string) (*parley.Conversation, error)
	GetConversation(ctx context.Context, tenantID, id string) (*parley.Conversation, error)
	ListConversations(ctx context.Context, tenantID string, f parley.ConversationFilter) ([]parley.Conversation, error)
	AppendMessage(ctx context.Context, tenantID, conversationID string, m parley.NewMessage) (parley.AppendResult, error)
	ListMessages(ctx context.Context, tenantID, conversationID string, q parley.HistoryQuery) ([]parley.Message, error)
	HistoryDigest(ctx context.Context, tenantID, conversationID string, seq int64) (stored int64, digest []byte, err error)
	LockReply(ctx context.Context, conversationID string) (unlock func(), ok bool, err error)

	Ping(ctx context.Context) error
}

type testBundle struct {
	store Store
	ctx   context.Context
	t1    *parley.Tenant // the tenant under test
	t2    *parley.Tenant // another tenant, whose data t1 must never see
}

// Run runs the conformance suite. open returns a new empty store, closed by
// the test's cleanup.
func Run(t *testing.T, open func(t *testing.T) Store) {
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		s := open(t)
		ctx := context.Background()
		t1, err := s.EnsureTenant(ctx, "acme")
		require.NoError(t, err)
		t2, err := s.EnsureTenant(ctx, "globex")
		require.NoError(t, err)
		return &testBundle{store: s, ctx: ctx, t1: t1, t2: t2}
	}
	conversation := func(t *testing.T, b *testBundle, tenant *parley.Tenant, bot, user string) *parley.Conversation {
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
	appendText := func(t *testing.T, b *testBundle, tenant *parley.Tenant, convID, text string) *parley.Message {
		t.Helper()
		res, err := b.store.AppendMessage(b.ctx, tenant.ID, convID, parley.NewMessage{Text: text, Bubbles: []string{text}})
		require.NoError(t, err)
		return res.Message
	}

	t.Run("LockReply", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c1 := conversation(t, b, b.t1, "bot-1", "user-1")
		c2 := conversation(t, b, b.t1, "bot-1", "user-2")
		unlock, ok, err := b.store.LockReply(b.ctx, c1.ID)
		require.NoError(t, err)
		require.True(t, ok)
		_, ok, err = b.store.LockReply(b.ctx, c1.ID)
		require.NoError(t, err)
		require.False(t, ok, "one reply at a time per conversation")
		unlock2, ok, err := b.store.LockReply(b.ctx, c2.ID)
		require.NoError(t, err)
		require.True(t, ok, "conversations are independent")
		unlock2()
		unlock()
		unlock() // giving it back twice is harmless
		unlock, ok, err = b.store.LockReply(b.ctx, c1.ID)
		require.NoError(t, err)
		require.True(t, ok, "free again once given back")
		unlock()
	})

	t.Run("Tenants", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		again, err := b.store.EnsureTenant(b.ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, b.t1.ID, again.ID, "EnsureTenant is get-or-create")
		require.NotEqual(t, b.t1.ID, b.t2.ID)
	})

	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		secret, hash := parley.NewToken()
		tok, err := b.store.CreateToken(b.ctx, b.t1.ID, "ci", true, hash)
		require.NoError(t, err)
		p, err := b.store.Authenticate(b.ctx, parley.HashToken(secret))
		require.NoError(t, err)
		require.Equal(t, parley.Principal{TenantID: b.t1.ID, TokenID: tok.ID, Admin: true}, *p)

		again, err := b.store.CreateToken(b.ctx, b.t1.ID, "ci", true, hash)
		require.NoError(t, err)
		require.Equal(t, tok.ID, again.ID, "the same hash is the same token")

		_, err = b.store.Authenticate(b.ctx, parley.HashToken("prly_wrong"))
		require.Equal(t, parley.EUNAUTHORIZED, parley.ErrorCode(err))

		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteToken(b.ctx, b.t2.ID, tok.ID)),
			"another tenant cannot revoke it")
		list, err := b.store.ListTokens(b.ctx, b.t2.ID)
		require.NoError(t, err)
		require.Empty(t, list)
		list, err = b.store.ListTokens(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)

		require.NoError(t, b.store.DeleteToken(b.ctx, b.t1.ID, tok.ID))
		_, err = b.store.Authenticate(b.ctx, hash)
		require.Equal(t, parley.EUNAUTHORIZED, parley.ErrorCode(err), "a revoked token no longer authenticates")
	})

	t.Run("Bots", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		temp := 0.3
		in := &parley.Bot{ID: "bot-456", Name: "Helper", Persona: "You are kind.", Language: "es",
			Webhook: "https://example.com/hook", Model: parley.ModelSettings{Model: "m", Temperature: &temp, ContextTokens: 4000}}
		created, err := b.store.CreateBot(b.ctx, b.t1.ID, in)
		require.NoError(t, err)
		require.Equal(t, in.Model, created.Model)
		require.Equal(t, created.CreatedAt, created.UpdatedAt)

		_, err = b.store.CreateBot(b.ctx, b.t1.ID, in)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		_, err = b.store.CreateBot(b.ctx, b.t2.ID, in)
		require.NoError(t, err, "bot ids are per tenant")

		got, err := b.store.GetBot(b.ctx, b.t1.ID, "bot-456")
		require.NoError(t, err)
		require.Equal(t, created, got)

		name := "Renamed"
		updated, err := b.store.UpdateBot(b.ctx, b.t1.ID, "bot-456", parley.BotPatch{Name: &name})
		require.NoError(t, err)
		require.Equal(t, "Renamed", updated.Name)
		require.Equal(t, "You are kind.", updated.Persona, "unpatched fields stay")
		other, err := b.store.GetBot(b.ctx, b.t2.ID, "bot-456")
		require.NoError(t, err)
		require.Equal(t, "Helper", other.Name, "the other tenant's bot is untouched")

		for _, id := range []string{"bot-a", "bot-b", "bot-c"} {
			_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: id})
			require.NoError(t, err)
		}
		page, err := b.store.ListBots(b.ctx, b.t1.ID, "", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"bot-456", "bot-a"}, botIDs(page))
		page, err = b.store.ListBots(b.ctx, b.t1.ID, "bot-a", 10)
		require.NoError(t, err)
		require.Equal(t, []string{"bot-b", "bot-c"}, botIDs(page))

		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteBot(b.ctx, b.t1.ID, "nope")))
		require.NoError(t, b.store.DeleteBot(b.ctx, b.t1.ID, "bot-456"))
		_, err = b.store.GetBot(b.ctx, b.t1.ID, "bot-456")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.GetBot(b.ctx, b.t2.ID, "bot-456")
		require.NoError(t, err, "deleting one tenant's bot leaves the other's")
	})

	t.Run("Users", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, created, err := b.store.PutUser(b.ctx, b.t1.ID, &parley.User{ID: "user-789", Platform: "Qkkie",
			KV: map[string]any{"plan": "gold", "age": float64(30)}})
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, map[string]any{"plan": "gold", "age": float64(30)}, u.KV)
		_, created, err = b.store.PutUser(b.ctx, b.t1.ID, &parley.User{ID: "user-789", Platform: "Qkkie"})
		require.NoError(t, err)
		require.False(t, created)

		lang := "es"
		u, err = b.store.PatchUser(b.ctx, b.t1.ID, "user-789", parley.UserPatch{Language: &lang,
			KV: map[string]any{"plan": "silver", "city": "Lima"}})
		require.NoError(t, err)
		require.Equal(t, "es", u.Language)
		require.Equal(t, "Qkkie", u.Platform)
		require.Equal(t, map[string]any{"plan": "silver", "city": "Lima"}, u.KV)
		u, err = b.store.PatchUser(b.ctx, b.t1.ID, "user-789", parley.UserPatch{KV: map[string]any{"city": nil}})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"plan": "silver"}, u.KV, "a null value removes the key")

		_, err = b.store.GetUser(b.ctx, b.t2.ID, "user-789")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.PatchUser(b.ctx, b.t2.ID, "user-789", parley.UserPatch{Language: &lang})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteUser(b.ctx, b.t2.ID, "user-789")))

		c := conversation(t, b, b.t1, "bot-1", "user-789")
		appendText(t, b, b.t1, c.ID, "erase me")
		require.NoError(t, b.store.DeleteUser(b.ctx, b.t1.ID, "user-789"))
		_, err = b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "erasing a user erases their conversations")
		_, err = b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})

	t.Run("GetOrCreateConversation", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot-456", Language: "fr"})
		require.NoError(t, err)
		key := parley.ConversationKey{BotID: "bot-456", UserID: "user-789"}

		_, _, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{ConversationKey: key})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "unknown user without create_user_if_not_exists")
		require.Equal(t, "body.user_id", fieldOf(err))
		_, _, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "nope", UserID: "u"}, CreateUser: true})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, "body.bot_id", fieldOf(err))
		_, err = b.store.GetUser(b.ctx, b.t1.ID, "u")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "a failed create writes nothing")

		// Concurrent calls for one pair create exactly one conversation.
		var wg sync.WaitGroup
		ids := make([]string, 16)
		createdCount := make([]bool, 16)
		errs := make([]error, 16)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, created, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
					ConversationKey: key, CreateUser: true, Webhook: "https://example.com/h", Platform: "Qkkie"})
				errs[i] = err
				if err == nil {
					ids[i], createdCount[i] = c.ID, created
				}
			}()
		}
		wg.Wait()
		n := 0
		for i := range ids {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i])
			if createdCount[i] {
				n++
			}
		}
		require.Equal(t, 1, n, "exactly one call created it")

		c, err := b.store.GetConversation(b.ctx, b.t1.ID, ids[0])
		require.NoError(t, err)
		require.Equal(t, "https://example.com/h", c.Webhook)
		require.Equal(t, "Qkkie", c.Platform)
		require.Equal(t, "fr", c.Language, "the bot's language is the default")
		require.Equal(t, int64(0), c.MessageCount)
		require.Nil(t, c.LastMessageAt)

		_, err = b.store.GetConversation(b.ctx, b.t2.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant cannot see it")
		_, err = b.store.UpdateConversation(b.ctx, b.t2.ID, c.ID, "https://evil.example", "", "")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		u, err := b.store.UpdateConversation(b.ctx, b.t1.ID, c.ID, "https://example.com/new", "", "es")
		require.NoError(t, err)
		require.Equal(t, "https://example.com/new", u.Webhook)
		require.Equal(t, "Qkkie", u.Platform, "empty values leave fields alone")
		require.Equal(t, "es", u.Language)

		v1, created, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot-456", UserID: "user-789", ExternalID: "chat-123"}})
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, c.ID, v1.ID, "a V1 conversation id is a conversation of its own")
		require.Equal(t, "chat-123", v1.ExternalID)
	})

	t.Run("AppendMessage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		media := []parley.Media{{URL: "https://example.com/a.png", MediaType: "image/png"}, {ContentID: "c-1"}}
		res, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: "Hello", Bubbles: []string{"Hello"},
			AttachedMedia: media, Metadata: []byte(`{"k":1}`)})
		require.NoError(t, err)
		require.False(t, res.Replayed)
		require.Equal(t, int64(1), res.Message.Seq)
		require.Equal(t, media, res.Message.AttachedMedia)

		// Concurrent appends: sequence numbers 2..41 with no gap and no duplicate.
		var wg sync.WaitGroup
		seqs := make([]int64, 40)
		for i := range seqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: fmt.Sprint(i), FromBot: i%2 == 0})
				if err == nil {
					seqs[i] = r.Message.Seq
				}
			}()
		}
		wg.Wait()
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for i, s := range seqs {
			require.Equal(t, int64(i+2), s)
		}
		got, err := b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(41), got.MessageCount)
		require.NotNil(t, got.LastMessageAt)

		first, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 1})
		require.NoError(t, err)
		require.Equal(t, *res.Message, first[0], "what is read back is what was answered")

		_, err = b.store.AppendMessage(b.ctx, b.t2.ID, c.ID, parley.NewMessage{Text: "intruder"})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant cannot append")
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, parley.NewID(), parley.NewMessage{Text: "x"})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		got, err = b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(41), got.MessageCount, "failed appends store nothing")
	})

	t.Run("HistoryDigest", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		stored, d, err := b.store.HistoryDigest(b.ctx, b.t1.ID, c.ID, 3)
		require.NoError(t, err)
		require.Equal(t, int64(0), stored)
		require.Equal(t, parley.ChainStart, d, "an empty history")

		msgs := []parley.NewMessage{
			{Text: "Hi", Bubbles: []string{" Hi "}},
			{FromBot: true, Text: "Hello!\n\nHow can I help?", Bubbles: []string{"Hello!", "", "How can I help?"}},
			{FromBot: true, Text: "history only", NoReply: true},
			{Text: "A pizza"},
		}
		want := [][]byte{parley.ChainStart}
		for _, m := range msgs {
			_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, m)
			require.NoError(t, err)
			want = append(want, parley.ChainDigest(want[len(want)-1], m.FromBot, parley.Canonical(m.Bubbles, m.Text)))
		}
		for seq := range int64(7) {
			stored, d, err := b.store.HistoryDigest(b.ctx, b.t1.ID, c.ID, seq)
			require.NoError(t, err)
			require.Equal(t, int64(4), stored)
			require.Equal(t, want[min(seq, 4)], d, "the digest up to message %d", seq)
		}
		require.NotEqual(t, want[3], want[4])

		_, _, err = b.store.HistoryDigest(b.ctx, b.t2.ID, c.ID, 1)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's conversation")
	})

	t.Run("Idempotency", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		nm := parley.NewMessage{Text: "once", IdempotencyKey: "k-1", RequestHash: "h-1"}
		var wg sync.WaitGroup
		results := make([]parley.AppendResult, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, nm)
				if err == nil {
					results[i] = r
				}
			}()
		}
		wg.Wait()
		replays := 0
		for _, r := range results {
			require.NotNil(t, r.Message)
			require.Equal(t, results[0].Message.ID, r.Message.ID)
			if r.Replayed {
				replays++
			}
		}
		require.Equal(t, 7, replays, "one stored, seven replayed")

		nm.RequestHash = "h-2"
		_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, nm)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "the same key for a different request")

		other := conversation(t, b, b.t1, "bot-1", "user-2")
		nm.RequestHash = "h-1"
		r, err := b.store.AppendMessage(b.ctx, b.t1.ID, other.ID, nm)
		require.NoError(t, err)
		require.False(t, r.Replayed, "keys are per conversation")

		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 50})
		require.NoError(t, err)
		require.Len(t, msgs, 1)
	})

	t.Run("ListMessages", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		for i := 1; i <= 25; i++ {
			appendText(t, b, b.t1, c.ID, fmt.Sprintf("m%d", i))
		}
		cases := []struct {
			name string
			q    parley.HistoryQuery
			want []int64
		}{
			{"first page", parley.HistoryQuery{Limit: 3}, []int64{1, 2, 3}},
			{"after", parley.HistoryQuery{Limit: 3, AfterSeq: 22}, []int64{23, 24, 25}},
			{"past the end", parley.HistoryQuery{Limit: 3, AfterSeq: 25}, []int64{}},
			{"newest first", parley.HistoryQuery{Limit: 2, Order: parley.Descending}, []int64{25, 24}},
			{"before, descending", parley.HistoryQuery{Limit: 3, Order: parley.Descending, BeforeSeq: 3}, []int64{2, 1}},
			{"window", parley.HistoryQuery{Limit: 10, AfterSeq: 10, BeforeSeq: 13}, []int64{11, 12}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, tc.q)
				require.NoError(t, err)
				got := []int64{}
				for _, m := range msgs {
					got = append(got, m.Seq)
					require.Equal(t, fmt.Sprintf("m%d", m.Seq), m.Text)
				}
				require.Equal(t, tc.want, got)
			})
		}
		_, err := b.store.ListMessages(b.ctx, b.t2.ID, c.ID, parley.HistoryQuery{Limit: 3})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		empty := conversation(t, b, b.t1, "bot-1", "user-2")
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, empty.ID, parley.HistoryQuery{Limit: 3})
		require.NoError(t, err)
		require.Empty(t, msgs)
	})

	t.Run("ListConversations", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var convs []*parley.Conversation
		for i := range 5 {
			c := conversation(t, b, b.t1, fmt.Sprintf("bot-%d", i%2), fmt.Sprintf("user-%d", i))
			convs = append(convs, c)
		}
		_, err := b.store.UpdateConversation(b.ctx, b.t1.ID, convs[3].ID, "", "Qkkie", "es")
		require.NoError(t, err)
		conversation(t, b, b.t2, "bot-0", "user-0") // another tenant's

		all, err := b.store.ListConversations(b.ctx, b.t1.ID, parley.ConversationFilter{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []string{convs[4].ID, convs[3].ID, convs[2].ID, convs[1].ID, convs[0].ID}, convIDs(all),
			"newest first, only this tenant's")

		page, err := b.store.ListConversations(b.ctx, b.t1.ID, parley.ConversationFilter{Limit: 2, BeforeID: convs[3].ID})
		require.NoError(t, err)
		require.Equal(t, []string{convs[2].ID, convs[1].ID}, convIDs(page))

		cases := []struct {
			name string
			f    parley.ConversationFilter
			want []string
		}{
			{"bot", parley.ConversationFilter{BotID: "bot-1"}, []string{convs[3].ID, convs[1].ID}},
			{"user", parley.ConversationFilter{UserID: "user-2"}, []string{convs[2].ID}},
			{"platform", parley.ConversationFilter{Platform: "Qkkie"}, []string{convs[3].ID}},
			{"language", parley.ConversationFilter{Language: "es", BotID: "bot-0"}, []string{}},
			{"created after", parley.ConversationFilter{CreatedAfter: convs[3].CreatedAt}, []string{convs[4].ID}},
			{"updated after", parley.ConversationFilter{UpdatedAfter: convs[4].CreatedAt}, []string{convs[3].ID}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tc.f.Limit = 10
				got, err := b.store.ListConversations(b.ctx, b.t1.ID, tc.f)
				require.NoError(t, err)
				require.Equal(t, tc.want, convIDs(got))
			})
		}
	})

	t.Run("Search", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		pizza := conversation(t, b, b.t1, "bot-1", "user-1")
		appendText(t, b, b.t1, pizza.ID, "I would like to order a pizza with olives")
		sushi := conversation(t, b, b.t1, "bot-1", "user-2")
		appendText(t, b, b.t1, sushi.ID, "Do you deliver sushi on Sundays?")
		theirs := conversation(t, b, b.t2, "bot-1", "user-1")
		appendText(t, b, b.t2, theirs.ID, "pizza pizza pizza")

		search := func(q string, f parley.ConversationFilter) []string {
			f.Query, f.Limit = q, 10
			got, err := b.store.ListConversations(b.ctx, b.t1.ID, f)
			require.NoError(t, err)
			return convIDs(got)
		}
		// The SQLite index catches up in the background; allow it a moment.
		require.Eventually(t, func() bool { return len(search("pizza", parley.ConversationFilter{})) == 1 },
			5*time.Second, 10*time.Millisecond)
		cases := []struct {
			q    string
			want []string
		}{
			{"pizza", []string{pizza.ID}},
			{"PIZZA olives", []string{pizza.ID}},
			{"olives sushi", []string{}},
			{"deliver", []string{sushi.ID}},
			{"sund", []string{sushi.ID}}, // the last word matches as a prefix
			{`"pizza" OR NEAR(sushi) -*`, []string{}},
			{"((( ***", []string{}},
		}
		for _, tc := range cases {
			require.Equal(t, tc.want, search(tc.q, parley.ConversationFilter{}), "q=%q", tc.q)
		}
		require.Equal(t, []string{}, search("pizza", parley.ConversationFilter{UserID: "user-2"}), "filters combine")
	})
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
func NewConversation(t *testing.T, st Store) (*parley.Tenant, *parley.Conversation) {
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

// ReplyStore is a Store that stores replies.
type ReplyStore interface {
	Store
	StoreReply(ctx context.Context, tenantID, conversationID string, r parley.Reply) (*parley.Message, error)
}

// ReleaseAnswered: a coalescing reply that ends its turn (Reply.Release)
// after its messages were answered by another stores nothing, and still
// queues the job that answers what came meanwhile, which queued none of
// its own; with nothing pending it queues nothing. jobs counts the reply
// jobs queued for a conversation. The store's queue must not work them.
func ReleaseAnswered(t *testing.T, st ReplyStore, jobs func(conversationID string) int) {
	ctx := context.Background()
	tenant, c := NewConversation(t, st)
	user := func(text string) int64 {
		res, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: text, Bubbles: []string{text}})
		require.NoError(t, err)
		return res.Message.Seq
	}
	reply := func(upto int64, release bool) *parley.Message {
		m, err := st.StoreReply(ctx, tenant.ID, c.ID, parley.Reply{UptoSeq: upto, Release: release,
			Message: parley.NewMessage{FromBot: true, Text: "answer", Bubbles: []string{"answer"}}})
		require.NoError(t, err)
		return m
	}
	first := user("one")
	second := user("two") // the first's job is queued: no job of its own
	require.Equal(t, 1, jobs(c.ID))
	require.NotNil(t, reply(first, false), "another job answers the first message")
	require.Nil(t, reply(first, true), "already answered: nothing stored")
	require.Equal(t, 2, jobs(c.ID), "the second message's job is queued when the turn ends")

	require.NotNil(t, reply(second, true))
	require.Nil(t, reply(second, true))
	require.Equal(t, 2, jobs(c.ID), "nothing pending: no job")
	msgs, err := st.ListMessages(ctx, tenant.ID, c.ID, parley.HistoryQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, msgs, 4, "two messages, two replies")
}
