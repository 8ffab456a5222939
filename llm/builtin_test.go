package llm_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/llm"
)

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestBuiltin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lang string
		want []string
	}{
		{"en", []string{"Offline reply from Shoebot", "You wrote: “I need size 42”.", "Earlier you mentioned: “I like red shoes”.", "plan: gold"}},
		{"es-MX", []string{"Respuesta sin conexión de Shoebot", "Escribiste: “I need size 42”."}},
		{"fr", []string{"Réponse hors ligne"}},
		{"xx", []string{"Offline reply from Shoebot"}}, // unknown languages fall back to English
	}
	for _, tc := range cases {
		var streamed strings.Builder
		res, err := llm.Builtin{}.Complete(context.Background(), llm.Request{
			Hints:   llm.Hints{BotName: "Shoebot", Language: tc.lang, UserText: "I need size 42", Retrieved: []string{"I like red shoes"}, KV: map[string]any{"plan": "gold"}},
			OnDelta: func(s string) { streamed.WriteString(s) },
		})
		require.NoError(t, err)
		for _, w := range tc.want {
			require.Contains(t, res.Text, w, tc.lang)
		}
		require.Equal(t, "builtin", res.Provider)
		require.Equal(t, strings.TrimSpace(streamed.String()), res.Text)
		again, _ := llm.Builtin{}.Complete(context.Background(), llm.Request{Hints: llm.Hints{BotName: "Shoebot", Language: tc.lang,
			UserText: "I need size 42", Retrieved: []string{"I like red shoes"}, KV: map[string]any{"plan": "gold"}}})
		require.Equal(t, res.Text, again.Text, "deterministic")
	}
}
