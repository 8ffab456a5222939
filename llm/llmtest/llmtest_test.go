package llmtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/llm/llmtest"
)

// TestAlways: once the script is done, the Always step answers (with its
// delay), and requests are no longer recorded.
func TestAlways(t *testing.T) {
	s := llmtest.New(t, llmtest.Step{Text: "scripted"})
	ask := func() string {
		body, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]any{{"role": "user", "content": "hi"}}})
		res, err := http.Post(s.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		var out struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return out.Choices[0].Message.Content
	}
	require.Equal(t, "scripted", ask())
	require.Equal(t, "hi", ask(), "no script left, no Always: the echo")
	require.Len(t, s.Requests(), 2)
	s.Always(llmtest.Step{Text: "always", Delay: 50 * time.Millisecond})
	t0 := time.Now()
	require.Equal(t, "always", ask())
	require.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond)
	require.Len(t, s.Requests(), 2, "a load is not recorded")
}
