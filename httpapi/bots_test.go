package httpapi_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/httpapi"
)

// TestBotModelEndpoint: by default only the operator's (default) tenant may
// point a bot at its own model endpoint; a bot's own key is sealed at rest,
// never answered, and dropped when the endpoint changes.
func TestBotModelEndpoint(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		own := map[string]any{"base_url": "https://models.example/v1", "api_key": "sk-bot-secret"}

		// Another tenant's admin may not name an endpoint (nor smuggle one in
		// through a patch), and nothing is stored.
		res := b.do(t, b.other, "POST", "/api/bots", map[string]any{"id": "evil", "model": own})
		require.Equal(t, 403, res.status, res.raw)
		require.Equal(t, "body.model.base_url", problemField(res))
		_, err := b.store.GetBot(ctx, b.otherTenant, "evil")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, 201, b.do(t, b.other, "POST", "/api/bots", map[string]any{"id": "evil"}).status)
		res = b.do(t, b.other, "PATCH", "/api/bots/evil", map[string]any{"model": map[string]any{"base_url": "https://attacker.example/v1"}})
		require.Equal(t, 403, res.status, res.raw)
		require.Equal(t, "body.model.base_url", problemField(res))
		// Models of the default endpoint stay theirs to choose.
		res = b.do(t, b.other, "PATCH", "/api/bots/evil", map[string]any{"model": map[string]any{"model": "small"}})
		require.Equal(t, 200, res.status, res.raw)

		// The operator's tenant may; the key is never answered.
		res = b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "mine", "model": own})
		require.Equal(t, 201, res.status, res.raw)
		require.NotContains(t, res.raw, "sk-bot-secret")
		require.Equal(t, true, res.body["model"].(map[string]any)["has_api_key"])
		for _, path := range []string{"/api/bots/mine", "/api/bots"} {
			res = b.do(t, b.admin, "GET", path, nil)
			require.Equal(t, 200, res.status)
			require.NotContains(t, res.raw, "sk-bot-secret")
			require.Contains(t, res.raw, `"has_api_key":true`)
		}
		stored, err := b.store.GetBot(ctx, b.tenant, "mine")
		require.NoError(t, err)
		require.NotContains(t, stored.ModelKey, "sk-bot-secret", "sealed at rest")
		key, err := b.box.Open(stored.ModelKey, parley.ModelKeyOwner(b.tenant, "mine"))
		require.NoError(t, err)
		require.Equal(t, "sk-bot-secret", key)

		// Another model on the same endpoint keeps the key; another endpoint
		// drops it (a key goes only where it was given for).
		res = b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": map[string]any{"base_url": "https://models.example/v1", "model": "big"}})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, true, res.body["model"].(map[string]any)["has_api_key"])
		res = b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": map[string]any{"base_url": "https://elsewhere.example/v1"}})
		require.Equal(t, 200, res.status, res.raw)
		require.Nil(t, res.body["model"].(map[string]any)["has_api_key"])
		stored, err = b.store.GetBot(ctx, b.tenant, "mine")
		require.NoError(t, err)
		require.Empty(t, stored.ModelKey)

		// A key with no endpoint of its own would go nowhere: refused. A
		// has_api_key in a request is ignored.
		res = b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": map[string]any{"api_key": "k"}})
		require.Equal(t, 422, res.status, res.raw)
		require.Equal(t, "body.model.api_key", problemField(res))
		res = b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": map[string]any{"base_url": "https://elsewhere.example/v1", "has_api_key": true}})
		require.Equal(t, 200, res.status, res.raw)
		require.Nil(t, res.body["model"].(map[string]any)["has_api_key"])
		// "" removes a key.
		require.Equal(t, 200, b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": own}).status)
		res = b.do(t, b.admin, "PATCH", "/api/bots/mine", map[string]any{"model": map[string]any{"base_url": "https://models.example/v1", "api_key": ""}})
		require.Equal(t, 200, res.status, res.raw)
		require.Nil(t, res.body["model"].(map[string]any)["has_api_key"])
	})
}

// TestBotEndpointSettings: the operator's setting, not the tenant admin,
// decides; a server without a secret key refuses keys it cannot seal.
func TestBotEndpointSettings(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		own := map[string]any{"base_url": "https://models.example/v1"}
		for _, tc := range []struct {
			mode          string
			admin, others int
		}{
			{parley.EndpointsOperator, 201, 403},
			{parley.EndpointsAll, 201, 201},
			{parley.EndpointsNone, 403, 403},
		} {
			srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: b.store, DefaultTenantID: b.tenant,
				Endpoints: parley.EndpointPolicy{Mode: tc.mode}}))
			t.Cleanup(srv.Close)
			c := *b
			c.url = srv.URL
			res := c.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "a-" + tc.mode, "model": own})
			require.Equal(t, tc.admin, res.status, "%s: %s", tc.mode, res.raw)
			res = c.do(t, b.other, "POST", "/api/bots", map[string]any{"id": "b-" + tc.mode, "model": own})
			require.Equal(t, tc.others, res.status, "%s: %s", tc.mode, res.raw)
			if tc.admin == 201 {
				res = c.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "k-" + tc.mode,
					"model": map[string]any{"base_url": "https://models.example/v1", "api_key": "k"}})
				require.Equal(t, 422, res.status, "no secret key: %s", res.raw)
				require.Equal(t, "body.model.api_key", problemField(res))
			}
		}
	})
}
