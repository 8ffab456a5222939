package httpapi_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/live"
)

// TestDocsOffline: /docs is the whole reference, rendered by the server,
// with nothing loaded from elsewhere.
func TestDocsOffline(t *testing.T) {
	t.Parallel()
	hub := live.NewHub()
	b := setup(t, enginetest.Open(t, enginetest.SQLite, enginetest.Options{Hub: hub}), hub)
	res := b.do(t, "", "GET", "/docs", nil)
	require.Equal(t, 200, res.status)
	require.Contains(t, res.header.Get("Content-Type"), "text/html")
	page := res.raw
	require.NotContains(t, page, "<script")
	require.Empty(t, regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindAllString(page, -1), "nothing from another host")
	require.Contains(t, res.header.Get("Content-Security-Policy"), "default-src 'none'")
	// Every operation of the OpenAPI document is on the page.
	var doc map[string]any
	spec := b.do(t, "", "GET", "/openapi.json", nil)
	doc = spec.body
	n := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			id, ok := op.(map[string]any)["operationId"].(string)
			if !ok {
				continue
			}
			n++
			require.Contains(t, page, `id="`+id+`"`, method+" "+path)
			require.Contains(t, page, "<code>"+strings.ReplaceAll(path, "&", "&amp;")+"</code>")
		}
	}
	require.Greater(t, n, 30)
	require.Contains(t, page, "bot_id", "parameters are listed")
}
