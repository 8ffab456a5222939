package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
)

func TestMemoriesAPI(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		conv := b.conversation(t, b.admin, "bot-1", "ana")
		b.send(t, b.user, conv, "My name is Ana and I live in Madrid")
		_, err := b.store.StoreMemories(ctx, b.tenant, conv, 1, []parley.Fact{
			{Kind: parley.KindName, Key: "name", Text: "Name: Ana", Confidence: 0.9, SourceSeqs: []int64{1}},
			{Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Madrid", Confidence: 0.8, SourceSeqs: []int64{1}}})
		require.NoError(t, err)

		res := b.do(t, b.user, "GET", "/api/conversations/"+conv+"/memories", nil)
		require.Equal(t, 200, res.status, res.raw)
		require.Len(t, res.body["memories"], 2)
		require.Equal(t, float64(1), res.body["memories_seq"])
		res = b.do(t, b.user, "GET", "/api/conversations/"+conv+"/memories?search=madrid&limit=1", nil)
		require.Equal(t, 200, res.status)
		ms := res.body["memories"].([]any)
		require.Len(t, ms, 1)
		require.Equal(t, "Lives in Madrid", ms[0].(map[string]any)["text"])
		home := ms[0].(map[string]any)["id"].(string)
		res = b.do(t, b.user, "GET", "/api/conversations/"+conv+"/memories?limit=1", nil)
		require.NotEmpty(t, res.body["next_cursor"])
		next := b.do(t, b.user, "GET", "/api/conversations/"+conv+"/memories?limit=1&cursor="+res.body["next_cursor"].(string), nil)
		require.Len(t, next.body["memories"], 1)
		require.NotEqual(t, res.body["memories"], next.body["memories"])

		// Recall: memories and messages for a text, with their sources.
		b.send(t, b.user, conv, "The weather in Lisbon was lovely")
		b.send(t, b.user, conv, "We walked a lot")
		b.send(t, b.user, conv, "And ate too much")
		b.send(t, b.user, conv, "Sunny all week")
		recall := func() (response, []any, map[string]bool) {
			res := b.do(t, b.user, "GET", "/api/conversations/"+conv+"/recall?q=which+city%2C+Madrid%3F", nil)
			require.Equal(t, 200, res.status, res.raw)
			hits := res.body["hits"].([]any)
			kinds := map[string]bool{}
			for _, h := range hits {
				kinds[h.(map[string]any)["kind"].(string)] = true
			}
			return res, hits, kinds
		}
		// SQLite's full-text index follows appends by a few hundred ms.
		require.Eventually(t, func() bool { _, _, kinds := recall(); return kinds["message"] }, 5*time.Second, 50*time.Millisecond,
			"messages are recalled too")
		res, hits, _ := recall()
		top := hits[0].(map[string]any)
		require.Equal(t, "memory", top["kind"], res.raw)
		require.Equal(t, "Lives in Madrid", top["text"])
		require.Equal(t, []any{float64(1)}, top["source_seqs"])
		var texts []string
		for _, h := range hits {
			texts = append(texts, h.(map[string]any)["text"].(string))
		}
		require.Contains(t, texts, "The weather in Lisbon was lovely", "what follows a match is recalled by it")
		require.NotContains(t, texts, "Sunny all week", "what neither matches nor is within three messages of a match is not recalled")
		require.Equal(t, 422, b.do(t, b.user, "GET", "/api/conversations/"+conv+"/recall", nil).status, "q is required")
		require.Equal(t, 404, b.do(t, b.other, "GET", "/api/conversations/"+conv+"/recall?q=x", nil).status)

		// By hand: a new key is created, a known one confirmed.
		add := func(body map[string]any) response {
			return b.do(t, b.user, "POST", "/api/users/ana/memories", body)
		}
		res = add(map[string]any{"bot_id": "bot-1", "kind": "like", "text": "Likes jazz"})
		require.Equal(t, 201, res.status, res.raw)
		require.Equal(t, "create", res.body["change"])
		jazz := res.body["memory"].(map[string]any)["id"].(string)
		res = add(map[string]any{"bot_id": "bot-1", "kind": "like", "text": "likes jazz"})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, "confirm", res.body["change"])
		res = add(map[string]any{"bot_id": "bot-1", "kind": "place", "key": "place:home", "text": "Lives in Paris"})
		require.Equal(t, "supersede", res.body["change"])
		for _, bad := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"bot_id": "bot-1", "kind": "mood", "text": "x"}, "body.kind"},
			{map[string]any{"bot_id": "bot-1", "text": " "}, "body.text"},
			{map[string]any{"bot_id": "../x", "text": "x"}, "body.bot_id"},
		} {
			res = add(bad.body)
			require.Equal(t, 422, res.status, res.raw)
			require.Equal(t, bad.field, problemField(res), res.raw)
		}
		res = add(map[string]any{"bot_id": "no-bot", "text": "x"})
		require.Equal(t, 404, res.status)
		require.Equal(t, "body.bot_id", problemField(res))

		res = b.do(t, b.user, "GET", "/api/users/ana/memories?kind=like", nil)
		require.Equal(t, 200, res.status)
		require.Len(t, res.body["memories"], 1)
		res = b.do(t, b.user, "PATCH", "/api/memories/"+jazz, map[string]any{"text": "Likes jazz and soul"})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, "like", res.body["memory"].(map[string]any)["kind"], "a patch without kind keeps it")
		res = b.do(t, b.user, "GET", "/api/memories/"+jazz+"/history", nil)
		require.Equal(t, 200, res.status)
		require.Equal(t, "Likes jazz", res.body["versions"].([]any)[0].(map[string]any)["text"])
		res = b.do(t, b.user, "GET", "/api/memories/"+home+"/history", nil)
		require.Equal(t, "superseded", res.body["versions"].([]any)[0].(map[string]any)["reason"])

		// Another tenant reaches none of it.
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/conversations/" + conv + "/memories"}, {"GET", "/api/users/ana/memories"},
			{"GET", "/api/memories/" + jazz}, {"PATCH", "/api/memories/" + jazz}, {"DELETE", "/api/memories/" + jazz},
			{"GET", "/api/memories/" + jazz + "/history"},
		} {
			var body any
			if c.method == "PATCH" {
				body = map[string]any{"text": "mine now"}
			}
			require.Equal(t, 404, b.do(t, b.other, c.method, c.path, body).status, c.method+" "+c.path)
		}
		require.Equal(t, 404, b.do(t, b.other, "POST", "/api/users/ana/memories", map[string]any{"bot_id": "bot-1", "text": "x"}).status)

		require.Equal(t, 204, b.do(t, b.user, "DELETE", "/api/memories/"+jazz, nil).status)
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/memories/"+jazz, nil).status)
		// Erasing the user erases the rest.
		require.Equal(t, 204, b.do(t, b.admin, "DELETE", "/api/users/ana", nil).status)
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/memories/"+home, nil).status)
	})
}

// TestMemoryVectors: a memory added or corrected by hand gets its text's
// vector from the embeddings endpoint; when the endpoint fails, the call
// answers 502 and nothing is stored.
func TestMemoryVectors(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		models := llmtest.New(t)
		emb := llm.NewEmbeddings(llm.OpenAIConfig{BaseURL: models.BaseURL(), Model: "emb-1"})
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: b.store, DefaultTenantID: b.tenant, Embedder: emb}))
		t.Cleanup(srv.Close)
		c := *b
		c.url = srv.URL
		c.conversation(t, c.admin, "bot-1", "ana")
		res := c.do(t, c.admin, "POST", "/api/users/ana/memories", map[string]any{"bot_id": "bot-1", "text": "Likes jazz"})
		require.Equal(t, 201, res.status, res.raw)
		id := res.body["memory"].(map[string]any)["id"].(string)
		m, err := b.store.GetMemory(context.Background(), b.tenant, id)
		require.NoError(t, err)
		require.Equal(t, "emb-1", m.Vector.Model)
		require.InDelta(t, 1, parley.Cosine(m.Vector.Values, m.Vector.Values), 1e-5)

		models.Script(llmtest.Step{Status: http.StatusBadRequest})
		res = c.do(t, c.admin, "PATCH", "/api/memories/"+id, map[string]any{"text": "Likes soul"})
		require.Equal(t, 502, res.status, res.raw)
		m, err = b.store.GetMemory(context.Background(), b.tenant, id)
		require.NoError(t, err)
		require.Equal(t, "Likes jazz", m.Text, "nothing changed")
		models.Script(llmtest.Step{Status: http.StatusBadRequest})
		res = c.do(t, c.admin, "POST", "/api/users/ana/memories", map[string]any{"bot_id": "bot-1", "text": "Has a cat"})
		require.Equal(t, 502, res.status, res.raw)
		ms, err := b.store.ListMemories(context.Background(), b.tenant, parley.MemoryFilter{UserID: "ana", Limit: 10})
		require.NoError(t, err)
		require.Len(t, ms, 1, "nothing stored")

		conv := c.conversation(t, c.admin, "bot-1", "ana")
		models.Script(llmtest.Step{Status: http.StatusBadRequest})
		res = c.do(t, c.admin, "GET", "/api/conversations/"+conv+"/recall?q=jazz", nil)
		require.Equal(t, 502, res.status, "recall with the endpoint down: %s", res.raw)

		res = c.do(t, c.admin, "PATCH", "/api/memories/"+id, map[string]any{"text": "Likes soul"})
		require.Equal(t, 200, res.status, res.raw)
		m, err = b.store.GetMemory(context.Background(), b.tenant, id)
		require.NoError(t, err)
		var want []float32
		for _, x := range llmtest.Embedding("Likes soul") {
			want = append(want, float32(x))
		}
		require.InDeltaSlice(t, parley.Normalize(want), m.Vector.Values, 1e-6, "the corrected text's vector")
	})
}
