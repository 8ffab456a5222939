package memory_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/rank"
	"github.com/parley-chat/parley/store/storetest"
)

// TestRecallByVector: the worker stores each memory with its text's
// vector from an embeddings endpoint (a real HTTP server), and recall
// finds by the query's vector a memory that shares no word with the
// query, ranked above one found by words alone; vectors of another model
// are not compared; an endpoint that fails fails the job, to be tried
// again, with nothing stored.
func TestRecallByVector(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		srv := llmtest.New(t)
		emb := llm.NewEmbeddings(llm.OpenAIConfig{BaseURL: srv.BaseURL(), Model: "emb-1"})
		tenant, c := storetest.NewConversation(t, st)
		_, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "I have a dog named Rufo", Bubbles: []string{"I have a dog named Rufo"}})
		require.NoError(t, err)

		job := &river.Job[parley.MemoryJob]{Args: parley.MemoryJob{TenantID: tenant.ID, ConversationID: c.ID}}
		srv.Script(llmtest.Step{Status: http.StatusBadRequest})
		require.Error(t, (&memory.Worker{Store: st, Embedder: emb}).Work(ctx, job), "the endpoint failed: tried again later")
		ms, err := st.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: "bot", UserID: c.UserID, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, ms, "nothing stored without its vector")

		require.NoError(t, (&memory.Worker{Store: st, Embedder: emb}).Work(ctx, job))
		ms, err = st.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: "bot", UserID: c.UserID, Limit: 10})
		require.NoError(t, err)
		require.NotEmpty(t, ms)
		for _, m := range ms {
			require.Equal(t, "emb-1", m.Vector.Model)
			require.InDelta(t, 1, parley.Cosine(m.Vector.Values, m.Vector.Values), 1e-5, "of unit length")
		}
		// By hand: one that shares the query's words, one that shares only
		// their first letters (what llmtest's embeddings see).
		add := func(text string) *parley.Memory {
			f := []parley.Fact{{Kind: parley.KindFact, Text: text, Confidence: 1}}
			require.NoError(t, memory.Embed(ctx, emb, f))
			m, _, err := st.AddMemory(ctx, tenant.ID, "bot", c.UserID, f[0])
			require.NoError(t, err)
			return m
		}
		words := add("Quilts quickly quieten quarrels and everything else besides")
		letters := add("Quinoa quarters")
		c, err = st.GetConversation(ctx, tenant.ID, c.ID)
		require.NoError(t, err)
		ids := func(rc memory.Recall, q string) []string {
			hits, err := rc.Search(ctx, tenant.ID, c, q, 10)
			require.NoError(t, err)
			out := []string{}
			for _, h := range hits {
				if h.Kind == "memory" {
					out = append(out, h.MemoryID)
				}
			}
			return out
		}
		require.Equal(t, []string{words.ID}, ids(memory.Recall{Store: st}, "quilts quarrels"), "words alone")
		both := ids(memory.Recall{Store: st, Embedder: emb}, "quilts quarrels")
		require.GreaterOrEqual(t, len(both), 2)
		require.Equal(t, []string{words.ID, letters.ID}, both[:2], "by vector too, the memory in both lists first")
		require.Equal(t, []string{words.ID}, ids(memory.Recall{Store: st, Embedder: rank.Hashing{}}, "quilts quarrels"),
			"another model's vectors are not compared")
		require.Len(t, srv.EmbeddingRequests(), 2+2+1, "the job's two tries, two by hand, one query")

		// A reply's retrieval ranks them alike; when the endpoint fails, a
		// reply still gets the memories, by their words.
		rs := &parley.ReplyState{TenantID: tenant.ID, Conversation: *c, Bot: parley.Bot{ID: "bot"}, User: parley.User{ID: c.UserID}}
		mems, _, err := memory.Recall{Store: st, Embedder: emb}.Retrieve(ctx, rs, "quilts quarrels", 0, nil)
		require.NoError(t, err)
		require.Equal(t, []string{words.ID, letters.ID}, []string{mems[0].ID, mems[1].ID})
		srv.Script(llmtest.Step{Status: http.StatusBadRequest})
		mems, _, err = memory.Recall{Store: st, Embedder: emb}.Retrieve(ctx, rs, "quilts quarrels", 0, nil)
		require.NoError(t, err, "a reply does not fail for the embeddings endpoint")
		require.Equal(t, words.ID, mems[0].ID, "by its words")
		require.NotEqual(t, letters.ID, mems[1].ID, "and not by the vector it could not have: who the user is comes next")
		require.Len(t, srv.EmbeddingRequests(), 2+2+1+2)
	})
}

// TestWorkerRefreshesVectors: memories without a vector of the embedder's
// model (stored before vectors, or by another model) get one when the
// user's conversation is next read for memories.
func TestWorkerRefreshesVectors(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		tenant, c := storetest.NewConversation(t, st)
		say := func(text string) {
			_, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: text, Bubbles: []string{text}})
			require.NoError(t, err)
		}
		job := &river.Job[parley.MemoryJob]{Args: parley.MemoryJob{TenantID: tenant.ID, ConversationID: c.ID}}
		hashing := rank.Hashing{}.Model()
		say("I have a dog named Rufo")
		require.NoError(t, (&memory.Worker{Store: st}).Work(ctx, job), "no embedder: no vectors")
		_, _, err := st.AddMemory(ctx, tenant.ID, "bot", c.UserID, parley.Fact{Kind: parley.KindFact, Text: "Plays chess",
			Confidence: 1, Vector: parley.Vector{Model: "old-model", Values: []float32{1}}})
		require.NoError(t, err)
		models := func() map[string]string {
			ms, err := st.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: "bot", UserID: c.UserID, Limit: 10})
			require.NoError(t, err)
			out := map[string]string{}
			for _, m := range ms {
				out[m.Text] = m.Vector.Model
				if m.Vector.Model == hashing {
					require.Equal(t, parley.Normalize(rank.HashVector(m.Text)), m.Vector.Values, "the text's own vector")
				}
			}
			return out
		}
		before := models()
		require.Len(t, before, 2)
		for text, model := range before {
			require.NotEqual(t, hashing, model, text)
		}
		say("I love jazz")
		require.NoError(t, (&memory.Worker{Store: st, Embedder: rank.Hashing{}}).Work(ctx, job))
		after := models()
		require.Greater(t, len(after), len(before))
		for text, model := range after {
			require.Equal(t, hashing, model, "%q has a vector of the model now", text)
		}
	})
}
