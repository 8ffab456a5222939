package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChat runs `parley chat` in a real terminal (tmux) against the real
// server: the history shows on start, a message typed is sent, and the
// bot's reply appears by itself.
func TestChat(t *testing.T) {
	t.Parallel()
	tmux := tool(t, "tmux")
	s := start(t, "PARLEY_DATA_DIR="+t.TempDir(), "PARLEY_DATABASE_URL=")
	status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "helper", "name": "Helper"})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	status, body, err := s.call("POST", "/api/conversations", map[string]any{"bot_id": "helper", "user_id": "tess",
		"create_user_if_not_exists": true})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	conv := body["conversation"].(map[string]any)["id"].(string)
	status, _, err = s.call("POST", "/api/conversations/"+conv+"/messages",
		map[string]any{"message": map[string]any{"text": "welcome back, Tess", "from_bot": true}})
	require.NoError(t, err)
	require.Equal(t, 201, status)

	session := fmt.Sprintf("parley-chat-%d", time.Now().UnixNano()) // no "." or ":": tmux reads them in targets
	sock := "-L" + session                                          // a server of its own
	cmd := exec.Command(tmux, sock, "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
		binary(t)+" chat --bot helper --user tess")
	cmd.Env = append(os.Environ(), "PARLEY_URL="+s.url, "PARLEY_TOKEN="+s.token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command(tmux, sock, "kill-server").Run() })
	screen := func() string {
		out, _ := exec.Command(tmux, sock, "capture-pane", "-p", "-t", session).Output()
		return string(out)
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok(screen()) {
				return
			}
		}
		t.Fatalf("%s; the screen:\n%s\nserver:\n%s", what, screen(), s.logs)
	}
	waitFor("the history on start", func(sc string) bool { return strings.Contains(sc, "helper: welcome back, Tess") })
	require.NoError(t, exec.Command(tmux, sock, "send-keys", "-t", session, "is the shop open today?", "Enter").Run())
	waitFor("the reply, live", func(sc string) bool {
		return strings.Contains(sc, "you: is the shop open today?") && strings.Contains(sc, "You wrote: “is the shop open today?”")
	})

	status, body, err = s.call("GET", "/api/conversations/"+conv+"/messages?order=desc&limit=2", nil)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	msgs := body["messages"].([]any)
	require.Equal(t, "is the shop open today?", msgs[1].(map[string]any)["text"], "sent through the API")
	require.NoError(t, exec.Command(tmux, sock, "send-keys", "-t", session, "Escape").Run())
}
