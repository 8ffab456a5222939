package httpapi_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/store/postgres"
)

// TestDatabaseOutage stops a PostgreSQL of its own under a running API
// (fast, then immediate shutdown): readiness fails, requests get 503
// problem JSON with Retry-After at once instead of hanging or 500s, and
// all recovers by itself when the database is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("../scripts/postgres.sh").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("starting PostgreSQL: %v", err)
		}
		t.Skip("no PostgreSQL server binaries")
	}
	fields := strings.Fields(string(out))
	dir, url := fields[0], fields[1]
	t.Cleanup(func() { _ = exec.Command("../scripts/postgres.sh", "stop", dir).Run() })
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, postgres.Options{Schema: "outage"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	hub := live.NewHub()
	b := setup(t, st, hub)
	conv := b.conversation(t, b.admin, "bot-1", "user-1")
	b.client.Timeout = 15 * time.Second // a request held instead of answered fails the test

	for _, mode := range []string{"fast", "immediate"} {
		require.Equal(t, 200, b.do(t, "", "GET", "/readyz", nil).status)
		require.NoError(t, exec.Command("../scripts/postgres.sh", "halt", dir, mode).Run(), mode)

		res := b.do(t, "", "GET", "/readyz", nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status, mode)
		res = b.do(t, b.admin, "GET", "/api/conversations/"+conv, nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s: %s", mode, res.raw)
		require.Equal(t, "2", res.header.Get("Retry-After"))
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		require.Contains(t, res.body["detail"], "database")
		res = b.do(t, b.admin, "POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{"text": "hi"}})
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s: %s", mode, res.raw)
		_, status := b.stream(t, b.admin, "/api/conversations/"+conv+"/events")
		require.Equal(t, http.StatusServiceUnavailable, status, "%s: an event stream opened", mode)
		res = b.do(t, "prly_a_token_never_seen", "GET", "/api/bots", nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s: a token to check: %s", mode, res.raw)

		require.NoError(t, exec.Command("../scripts/postgres.sh", "resume", dir).Run(), mode)
		require.Eventually(t, func() bool { return b.do(t, "", "GET", "/readyz", nil).status == 200 }, 30*time.Second, 100*time.Millisecond,
			"%s: ready again by itself", mode)
		require.Equal(t, 200, b.do(t, b.admin, "GET", "/api/conversations/"+conv, nil).status)
	}
}
