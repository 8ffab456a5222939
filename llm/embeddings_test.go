package llm_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
)

// TestEmbeddings: the texts go in one request, as an array, with the model
// and the key; the vectors come back in the inputs' order; an error answer
// is an error.
func TestEmbeddings(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t)
	e := llm.NewEmbeddings(llm.OpenAIConfig{BaseURL: srv.BaseURL(), APIKey: "sk-emb", Model: "emb-1"})
	require.Equal(t, "emb-1", e.Model())
	texts := []string{"hello world", "zebra", "Hello again world"}
	vs, err := e.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Len(t, vs, len(texts))
	for i, text := range texts {
		want := llmtest.Embedding(text)
		require.Len(t, vs[i], len(want))
		for j := range want {
			require.InDelta(t, want[j], vs[i][j], 1e-6, "text %d", i)
		}
	}
	reqs := srv.EmbeddingRequests()
	require.Len(t, reqs, 1, "one request for all the texts")
	require.Equal(t, "emb-1", reqs[0].Model)
	require.Equal(t, "float", reqs[0].EncodingFormat)
	require.Equal(t, "Bearer sk-emb", reqs[0].Authorization)
	require.JSONEq(t, `["hello world","zebra","Hello again world"]`, string(reqs[0].Input))

	none, err := e.Embed(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, none)
	require.Len(t, srv.EmbeddingRequests(), 1, "nothing to embed: no request")

	srv.Script(llmtest.Step{Status: http.StatusBadRequest})
	_, err = e.Embed(context.Background(), texts)
	require.Error(t, err)
}
