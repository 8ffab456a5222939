package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/store"
)

func TestWorker(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		workers := river.NewWorkers()
		var st parley.Store
		w := &memory.Worker{}
		river.AddWorker(workers, w)
		st = enginetest.Open(t, engine, enginetest.Options{Queue: store.QueueOptions{Workers: workers, MemoryConcurrency: 2}})
		w.Store = st
		require.NoError(t, st.StartWorkers(ctx))
		tenant, err := st.EnsureTenant(ctx, "t")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
		require.NoError(t, err)
		c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "ana"}, CreateUser: true})
		require.NoError(t, err)
		say := func(text string) {
			_, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: text, Bubbles: []string{text}})
			require.NoError(t, err)
		}
		memories := func() map[string]parley.Memory {
			ms, err := st.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: "bot", UserID: "ana", Limit: 50})
			require.NoError(t, err)
			out := map[string]parley.Memory{}
			for _, m := range ms {
				out[m.Key] = m
			}
			return out
		}
		say("Hi! My name is Ana and I live in Madrid.")
		say("I have a dog named Rufo")
		require.Eventually(t, func() bool { return len(memories()) == 3 }, 15*time.Second, 50*time.Millisecond)
		ms := memories()
		require.Equal(t, "Name: Ana", ms["name"].Text)
		require.Equal(t, []int64{1}, ms["name"].SourceSeqs)
		require.Equal(t, "Lives in Madrid", ms["place:home"].Text)
		require.Equal(t, "Pet dog: Rufo", ms["pet:dog"].Text)
		got, err := st.GetConversation(ctx, tenant.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), got.MemoriesSeq)

		// A job done again (its process died after storing, before River
		// marked it done) stores nothing twice.
		job := &river.Job[parley.MemoryJob]{Args: parley.MemoryJob{TenantID: tenant.ID, ConversationID: c.ID}}
		require.NoError(t, w.Work(ctx, job))
		require.Equal(t, ms, memories())

		// A contradiction supersedes; the old home stays in the history.
		say("Actually I moved to Paris last month")
		require.Eventually(t, func() bool { return memories()["place:home"].Text == "Lives in Paris" }, 15*time.Second, 50*time.Millisecond)
		history, err := st.MemoryHistory(ctx, tenant.ID, ms["place:home"].ID)
		require.NoError(t, err)
		require.Equal(t, "Lives in Madrid", history[0].Text)

		// A reply's retrieval puts what the turn is about first, who the
		// user is next.
		rs := &parley.ReplyState{TenantID: tenant.ID, Conversation: *got, Bot: parley.Bot{ID: "bot"}, User: parley.User{ID: "ana"}}
		mems, msgs, err := memory.Recall{Store: st}.Retrieve(ctx, rs, "how is Rufo doing?", 0, nil)
		require.NoError(t, err)
		require.Equal(t, "Pet dog: Rufo", mems[0].Text)
		require.Len(t, mems, 3)
		require.Empty(t, msgs, "no messages without a searcher")
		rs.TenantID = "other-tenant"
		others, otherMsgs, err := memory.Recall{Store: st}.Retrieve(ctx, rs, "Rufo", 0, st)
		require.NoError(t, err)
		require.Empty(t, others, "another tenant's recall finds none of them")
		require.Empty(t, otherMsgs, "nor their messages")
	})
}

func TestContent(t *testing.T) {
	t.Parallel()
	require.Equal(t, "caroline go lgbtq support group", memory.Content("When did Caroline go to the LGBTQ support group?"))
	require.Equal(t, "viaje japón", memory.Content("¿Cuándo es el viaje a Japón?"))
	require.Equal(t, "what is it", memory.Content("what is it"), "nothing but stopwords: the query as it is")
}
