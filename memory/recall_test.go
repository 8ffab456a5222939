package memory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/memory"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		tenant, err := st.EnsureTenant(ctx, "t")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot", Name: "Mel"})
		require.NoError(t, err)
		_, _, err = st.PutUser(ctx, tenant.ID, &parley.User{ID: "ana", KV: map[string]any{"name": "Ana"}})
		require.NoError(t, err)
		c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "ana"}})
		require.NoError(t, err)
		day := func(d int) time.Time { return time.Date(2024, 3, d, 10, 0, 0, 0, time.UTC) }
		for _, m := range []struct {
			bot  bool
			text string
			at   time.Time
		}{
			{true, "Did you go camping last weekend?", day(1)}, // 1
			{false, "Yes, twice, with the kids!", day(1)},      // 2: the answer, found by its question
			{false, "I love pizza with olives", day(1)},        // 3
			{true, "Pizza is my favourite too", day(1)},        // 4
			{false, "Nothing to do with it", day(1)},           // 5
			{false, "We had pizza at the beach", day(3)},       // 6
			{true, "A quiet day", day(20)},                     // 7: a new talk, weeks later
			{false, "Anyway, camping again soon", day(20)},     // 8
			{true, "Sounds good", day(20).Add(2 * time.Hour)},  // 9: two hours on, another talk
		} {
			_, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: m.bot, Text: m.text, Bubbles: []string{m.text}, NoReply: true, At: m.at})
			require.NoError(t, err)
		}
		c, err = st.GetConversation(ctx, tenant.ID, c.ID)
		require.NoError(t, err)
		rc := memory.Recall{Store: st}
		seqs := func(query string) []int64 {
			hits, err := rc.Search(ctx, tenant.ID, c, query, 10)
			require.NoError(t, err)
			out := []int64{}
			for _, h := range hits {
				require.Equal(t, "message", h.Kind)
				out = append(out, h.Seq)
			}
			return out
		}
		// The SQLite full-text index catches up in the background, in
		// batches: have it take in every message first.
		if ix, ok := st.(interface {
			IndexPending(ctx context.Context) (int, error)
		}); ok {
			_, err := ix.IndexPending(ctx)
			require.NoError(t, err)
		}

		camping := seqs("camping")
		require.Contains(t, camping, int64(2), "the answer comes with its question")
		require.Contains(t, camping, int64(7), "a neighbour in the same talk")
		require.NotContains(t, camping, int64(9), "a neighbour hours apart is another talk")
		require.Contains(t, camping, int64(4), "three messages on, in the same talk")
		require.NotContains(t, camping, int64(5), "what neither matches nor is within three messages of a match is not recalled")
		require.Less(t, slices.Index(camping, 2), slices.Index(camping, 3), "the answer ranks above what follows it, by its question: %v", camping)
		require.Less(t, slices.Index(camping, 3), slices.Index(camping, 4), "and the nearer above the farther: %v", camping)
		require.ElementsMatch(t, []int64{3, 6}, seqs("pizza Ana")[:2], "a query naming the user prefers what the user said")
		require.Equal(t, int64(4), seqs("pizza Mel")[0], "and naming the bot, what the bot said")
		require.Equal(t, int64(6), seqs("pizza on March 3, 2024")[0], "a query naming a day prefers that day")

		// A reply's retrieval ranks the messages as recall does; with a
		// bound, only those older than the reply's history.
		rs := &parley.ReplyState{TenantID: tenant.ID, Conversation: *c, Bot: parley.Bot{ID: "bot", Name: "Mel"},
			User: parley.User{ID: "ana", KV: map[string]any{"name": "Ana"}}}
		for _, q := range []string{"camping", "pizza Ana", "pizza Mel", "pizza on March 3, 2024"} {
			_, msgs, err := rc.Retrieve(ctx, rs, q, 0, st)
			require.NoError(t, err)
			got := []int64{}
			for _, m := range msgs {
				got = append(got, m.Seq)
			}
			require.Equal(t, seqs(q), got, q)
		}
		_, older, err := rc.Retrieve(ctx, rs, "camping", 7, st)
		require.NoError(t, err)
		got := []int64{}
		for _, m := range older {
			got = append(got, m.Seq)
		}
		require.Equal(t, []int64{1, 2, 3, 4}, got, "the match below 7, then its talk by nearness; not 8, nor 7 by it")

		hits, err := rc.Search(ctx, "other-tenant", c, "pizza", 10)
		require.NoError(t, err)
		require.Empty(t, hits, "another tenant's recall finds nothing")
	})
}
