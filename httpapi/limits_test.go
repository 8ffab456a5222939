package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/httpapi"
)

// TestRateLimits: past its token's or its tenant's rate a request is a 429
// with Retry-After, counted in /metrics; other tokens, other tenants and
// long-lived slots are their own.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		// Rates so low that nothing refills while the test runs.
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: b.store, DefaultTenantID: b.tenant, Hub: b.hub,
			Limits: httpapi.Limits{TokenRate: 0.001, TokenBurst: 5, TenantRate: 0.001, TenantBurst: 8, TokenStreams: 1, TenantStreams: 2}}))
		t.Cleanup(srv.Close)
		c := *b
		c.url = srv.URL
		get := func(token string) response { return c.do(t, token, "GET", "/api/bots", nil) }
		for range 5 {
			require.Equal(t, 200, get(b.admin).status)
		}
		res := get(b.admin)
		require.Equal(t, 429, res.status, res.raw)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		wait, err := strconv.Atoi(res.header.Get("Retry-After"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, wait, 1)
		require.Contains(t, res.raw, "token")

		// The tenant's other token has its own bucket, within the tenant's.
		for range 3 {
			require.Equal(t, 200, get(b.user).status)
		}
		res = get(b.user)
		require.Equal(t, 429, res.status, res.raw)
		require.Contains(t, res.raw, "tenant")
		require.Equal(t, 200, get(b.other).status, "another tenant is not held back")
		require.Equal(t, 401, get("prly_nope").status, "no token: refused before any limit")

		metrics, err := http.Get(srv.URL + "/metrics")
		require.NoError(t, err)
		body, _ := io.ReadAll(metrics.Body)
		metrics.Body.Close()
		require.Contains(t, string(body), `parley_rate_limited_total{kind="rate",scope="token"} 1`)
		require.Contains(t, string(body), `parley_rate_limited_total{kind="rate",scope="tenant"} 1`)
	})
}

// TestStreamLimits: a token holds at most its number of event streams and
// waits at once; closing one frees its slot.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, b.admin, "bot-1", "user-1")
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: b.store, DefaultTenantID: b.tenant, Hub: b.hub,
			Limits: httpapi.Limits{TokenStreams: 1, TenantStreams: 2}}))
		t.Cleanup(srv.Close)
		c := *b
		c.url = srv.URL
		path := "/api/conversations/" + conv + "/events"
		first, status := c.stream(t, b.user, path)
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", first.next(t)["event"])
		_, status = c.stream(t, b.user, path)
		require.Equal(t, 429, status, "one stream per token")
		res := c.do(t, b.user, "POST", "/api/conversations/"+conv+"/messages?wait=5s",
			map[string]any{"message": map[string]any{"text": "x"}})
		require.Equal(t, 429, res.status, "a wait takes a slot too: "+res.raw)
		require.Equal(t, "1", res.header.Get("Retry-After"))
		msgs, err := b.store.ListMessages(context.Background(), b.tenant, conv, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		require.Empty(t, msgs, "a refused wait stores nothing")

		second, status := c.stream(t, b.admin, path)
		require.Equal(t, 200, status, "the tenant's second slot")
		require.Equal(t, "conversation.created", second.next(t)["event"])
		secret, hash := parley.NewToken()
		_, err = b.store.CreateToken(context.Background(), b.tenant, "third", false, hash)
		require.NoError(t, err)
		_, status = c.stream(t, secret, path)
		require.Equal(t, 429, status, "the tenant's slots are taken")

		first.cancel()
		require.Eventually(t, func() bool {
			s, status := c.stream(t, b.user, path)
			if status == 200 {
				s.cancel()
			}
			return status == 200
		}, 5*time.Second, 50*time.Millisecond, "a closed stream frees its slot")
	})
}
