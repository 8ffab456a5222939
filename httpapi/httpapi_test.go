package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/seal"
)

type testBundle struct {
	store       httpapi.Store
	tenant      string    // tenant A's id
	otherTenant string    // tenant B's id
	box         *seal.Box // the server's secret box
	hub         *live.Hub
	url         string
	admin       string // admin token of tenant A (the default tenant)
	user        string // non-admin token of tenant A
	other       string // admin token of tenant B
	client      *http.Client
	blobs       blob.Dir // the content library's
	library     *content.Library
	api         *httpapi.Server
}

// engines runs a test against the API on each store.
func engines(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	enginetest.Run(t, func(t *testing.T, engine string) {
		hub := live.NewHub()
		fn(t, setup(t, enginetest.Open(t, engine, enginetest.Options{Hub: hub}), hub))
	})
}

func setup(t *testing.T, st httpapi.Store, hub *live.Hub) *testBundle {
	ctx := context.Background()
	a, err := st.EnsureTenant(ctx, "default")
	require.NoError(t, err)
	bt, err := st.EnsureTenant(ctx, "other")
	require.NoError(t, err)
	token := func(tenant *parley.Tenant, admin bool) string {
		secret, hash := parley.NewToken()
		_, err := st.CreateToken(ctx, tenant.ID, "test", admin, hash)
		require.NoError(t, err)
		return secret
	}
	key, err := seal.ParseKey(seal.NewKey())
	require.NoError(t, err)
	box, err := seal.New(key)
	require.NoError(t, err)
	// The content library fetches from test servers on 127.0.0.2, the one
	// loopback address its guard permits.
	blobs := blob.Dir{Root: t.TempDir()}
	library := &content.Library{Store: st, Blobs: blobs, MaxBytes: 1 << 20,
		Client: egress.NewClient(egress.Options{Permit: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Redirects: 5})}
	api := httpapi.New(httpapi.Config{Store: st, DefaultTenantID: a.ID, Hub: hub, Keys: box, Library: library})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &testBundle{api: api, store: st, tenant: a.ID, otherTenant: bt.ID, hub: hub, box: box, url: srv.URL, admin: token(a, true), user: token(a, false), other: token(bt, true), client: srv.Client(), blobs: blobs, library: library}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (b *testBundle) do(t *testing.T, token, method, path string, body any, headers ...string) response {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		buf, err := json.Marshal(v)
		require.NoError(t, err)
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, b.url+path, r)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && (strings.Contains(res.Header.Get("Content-Type"), "json")) {
		require.NoError(t, json.Unmarshal(raw, &out.body), string(raw))
	}
	return out
}

// conversation makes a bot and a conversation and returns its id.
func (b *testBundle) conversation(t *testing.T, token, bot, user string) string {
	t.Helper()
	res := b.do(t, token, "POST", "/api/bots", map[string]any{"id": bot})
	require.Contains(t, []int{201, 409}, res.status, res.raw)
	res = b.do(t, token, "POST", "/api/conversations",
		map[string]any{"bot_id": bot, "user_id": user, "create_user_if_not_exists": true})
	require.Contains(t, []int{200, 201}, res.status, res.raw)
	return res.body["conversation"].(map[string]any)["id"].(string)
}

func (b *testBundle) send(t *testing.T, token, convID, text string) map[string]any {
	t.Helper()
	res := b.do(t, token, "POST", "/api/conversations/"+convID+"/messages",
		map[string]any{"message": map[string]any{"text": text, "from_bot": false}})
	require.Equal(t, 201, res.status, res.raw)
	return res.body["message"].(map[string]any)
}

// problemField returns the location of the first error of a problem.
func problemField(r response) string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	loc, _ := errs[0].(map[string]any)["location"].(string)
	return loc
}

func TestConversationFlow(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		res := b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "bot-456", "name": "Helper", "language": "es",
			"webhook": "https://example.com/bot"})
		require.Equal(t, 201, res.status, res.raw)

		body := map[string]any{"bot_id": "bot-456", "user_id": "user-789", "create_user_if_not_exists": true,
			"webhook": "https://webhook.example.com"}
		res = b.do(t, b.user, "POST", "/api/conversations", body)
		require.Equal(t, 201, res.status, res.raw)
		conv := res.body["conversation"].(map[string]any)
		require.Equal(t, "bot-456", conv["bot_id"])
		require.Equal(t, "es", conv["language"])
		require.Equal(t, "https://webhook.example.com", conv["webhook"])
		res = b.do(t, b.user, "POST", "/api/conversations", body)
		require.Equal(t, 200, res.status, "the second call finds it")
		require.Equal(t, conv["id"], res.body["conversation"].(map[string]any)["id"])
		id := conv["id"].(string)

		// The seeds' client sends no Content-Type: fetch makes it text/plain.
		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages",
			`{"message":{"text":"Hello","from_bot":false,"attached_media":null}}`, "Content-Type", "text/plain;charset=UTF-8")
		require.Equal(t, 201, res.status, res.raw)
		msg := res.body["message"].(map[string]any)
		require.Equal(t, float64(1), msg["seq"])
		require.Equal(t, []any{"Hello"}, msg["bubbles"])

		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages", map[string]any{"message": map[string]any{
			"text": "Taking over", "from_bot": true,
			"attached_media": []any{"content-1", map[string]any{"url": "https://example.com/a.png", "media_type": "image/png"}}}})
		require.Equal(t, 201, res.status, res.raw)
		require.Equal(t, []any{map[string]any{"content_id": "content-1"},
			map[string]any{"url": "https://example.com/a.png", "media_type": "image/png"}},
			res.body["message"].(map[string]any)["attached_media"])

		res = b.do(t, b.user, "GET", "/api/conversations/"+id, nil)
		require.Equal(t, 200, res.status)
		require.Len(t, res.body["messages"], 2)
		require.Equal(t, float64(2), res.body["conversation"].(map[string]any)["message_count"])
		created := res.body["conversation"].(map[string]any)["created_at"].(string)
		_, err := time.Parse(time.RFC3339, created)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(created, "Z"), "timestamps are UTC")
	})
}

// TestReplyContext reads a reply's context through the API: the messages
// stored by reference come back with their text, rendered as sent.
func TestReplyContext(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		res := b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "bot-1", "name": "Helper"})
		require.Equal(t, 201, res.status, res.raw)
		res = b.do(t, b.user, "POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "u-1",
			"create_user_if_not_exists": true})
		require.Equal(t, 201, res.status, res.raw)
		id := res.body["conversation"].(map[string]any)["id"].(string)
		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages", map[string]any{"message": map[string]any{
			"text": "Is this one in stock?", "attached_media": []any{map[string]any{"url": "https://example.com/a.png", "media_type": "image/png"}}}})
		require.Equal(t, 201, res.status, res.raw)

		st := b.store.(interface {
			StoreReply(ctx context.Context, tenantID, conversationID string, r parley.Reply) (*parley.Message, error)
		})
		stored := `{"messages":[{"role":"system","content":"You are Helper."},{"role":"user","ref":1}],
			"parts":[{"name":"persona","tokens":4,"items":1}],"tokens":20,"budget":4000,"window_start":1,
			"provider":"builtin","model":"builtin","render":1}`
		m, err := st.StoreReply(context.Background(), b.tenant, id, parley.Reply{UptoSeq: 1,
			Message: parley.NewMessage{FromBot: true, Text: "Yes", Bubbles: []string{"Yes"}}, Context: json.RawMessage(stored)})
		require.NoError(t, err)

		res = b.do(t, b.user, "GET", fmt.Sprintf("/api/conversations/%s/messages/%d/context", id, m.Seq), nil)
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, []any{
			map[string]any{"role": "system", "content": "You are Helper."},
			map[string]any{"role": "user", "content": "Is this one in stock?\n[attached image/png: https://example.com/a.png]", "seq": float64(1)},
		}, res.body["messages"])
		require.Equal(t, "builtin", res.body["provider"])
		require.NotContains(t, res.raw, "render")
		res = b.do(t, b.other, "GET", fmt.Sprintf("/api/conversations/%s/messages/%d/context", id, m.Seq), nil)
		require.Equal(t, 404, res.status, res.raw)
	})
}

func TestHistoryPagination(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		for i := 1; i <= 7; i++ {
			b.send(t, b.user, id, fmt.Sprintf("m%d", i))
		}
		page := func(path string) ([]int, string, string) {
			res := b.do(t, b.user, "GET", path, nil)
			require.Equal(t, 200, res.status, res.raw)
			var seqs []int
			for _, m := range res.body["messages"].([]any) {
				seqs = append(seqs, int(m.(map[string]any)["seq"].(float64)))
			}
			return seqs, res.body["next_cursor"].(string), res.body["prev_cursor"].(string)
		}
		base := "/api/conversations/" + id + "/messages?limit=3"
		seqs, next, prev := page(base)
		require.Equal(t, []int{1, 2, 3}, seqs)
		require.Empty(t, prev)
		seqs, next2, prev := page(base + "&cursor=" + next)
		require.Equal(t, []int{4, 5, 6}, seqs)
		seqs, last, prevLast := page(base + "&cursor=" + next2)
		require.Equal(t, []int{7}, seqs)
		require.Empty(t, last, "empty on the last page")
		seqs, _, _ = page(base + "&cursor=" + prevLast)
		require.Equal(t, []int{4, 5, 6}, seqs, "prev_cursor goes back")
		seqs, _, first := page(base + "&cursor=" + prev)
		require.Equal(t, []int{1, 2, 3}, seqs)
		require.Empty(t, first, "nothing before the first page")

		seqs, next, _ = page(base + "&order=desc")
		require.Equal(t, []int{7, 6, 5}, seqs)
		seqs, _, prev = page(base + "&order=desc&cursor=" + next)
		require.Equal(t, []int{4, 3, 2}, seqs)
		seqs, _, _ = page(base + "&order=desc&cursor=" + prev)
		require.Equal(t, []int{7, 6, 5}, seqs)

		res := b.do(t, b.user, "GET", base+"&cursor=not-a-cursor", nil)
		require.Equal(t, 400, res.status)
		require.Equal(t, "query.cursor", problemField(res))
		res = b.do(t, b.user, "GET", base+"&order=asc&cursor="+next, nil)
		require.Equal(t, 400, res.status, "a desc cursor with asc order")
		res = b.do(t, b.user, "GET", "/api/conversations/"+id+"/messages?limit=201", nil)
		require.Equal(t, 422, res.status)
		require.Equal(t, "query.limit", problemField(res))

		res = b.do(t, b.user, "GET", "/api/conversations/"+id+"?limit=2&order=desc", nil)
		require.Equal(t, 200, res.status)
		require.Len(t, res.body["messages"], 2)
		require.NotEmpty(t, res.body["next_cursor"])
	})
}

func TestSearchConversations(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		var ids []string
		for i := range 5 {
			id := b.conversation(t, b.admin, "bot-1", fmt.Sprintf("user-%d", i))
			b.send(t, b.user, id, fmt.Sprintf("order number %d please", i))
			ids = append(ids, id)
		}
		b.send(t, b.user, ids[2], "where is my refund")
		list := func(q string) ([]string, string) {
			res := b.do(t, b.user, "GET", "/api/conversations?"+q, nil)
			require.Equal(t, 200, res.status, res.raw)
			var out []string
			for _, c := range res.body["conversations"].([]any) {
				out = append(out, c.(map[string]any)["id"].(string))
			}
			return out, res.body["next_cursor"].(string)
		}
		got, next := list("bot_id=bot-1&limit=2")
		require.Equal(t, []string{ids[4], ids[3]}, got)
		got, next = list("bot_id=bot-1&limit=2&cursor=" + next)
		require.Equal(t, []string{ids[2], ids[1]}, got)
		got, next = list("bot_id=bot-1&limit=2&cursor=" + next)
		require.Equal(t, []string{ids[0]}, got)
		require.Empty(t, next)

		require.Eventually(t, func() bool {
			got, _ := list("q=refund")
			return len(got) == 1 && got[0] == ids[2]
		}, 5*time.Second, 20*time.Millisecond)
		got, _ = list("q=refund&user_id=user-1")
		require.Empty(t, got)
		res := b.do(t, b.user, "GET", "/api/conversations?created_after=yesterday", nil)
		require.Equal(t, 422, res.status)
		require.Equal(t, "query.created_after", problemField(res))
		got, _ = list("created_after=2000-01-01T00:00:00Z&limit=10")
		require.Len(t, got, 5)
		// Another tenant finds nothing of this tenant's.
		res = b.do(t, b.other, "GET", "/api/conversations?q=refund", nil)
		require.Equal(t, 200, res.status)
		require.Empty(t, res.body["conversations"])
	})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		path := "/api/conversations/" + id + "/messages"
		body := map[string]any{"message": map[string]any{"text": "pay my bill"}}
		first := b.do(t, b.user, "POST", path, body, "Idempotency-Key", "abc")
		require.Equal(t, 201, first.status)
		again := b.do(t, b.user, "POST", path, body, "Idempotency-Key", "abc")
		require.Equal(t, 201, again.status)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Equal(t, first.body, again.body, "a retry gets the first answer")

		other := b.do(t, b.user, "POST", path, map[string]any{"message": map[string]any{"text": "something else"}},
			"Idempotency-Key", "abc")
		require.Equal(t, 409, other.status)
		require.Equal(t, "header.Idempotency-Key", problemField(other))

		res := b.do(t, b.user, "GET", "/api/conversations/"+id, nil)
		require.Len(t, res.body["messages"], 1, "stored once")
	})
}

func TestConcurrentGetOrCreate(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		require.Equal(t, 201, b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "bot-1"}).status)
		var wg sync.WaitGroup
		statuses := make([]int, 12)
		ids := make([]string, 12)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := b.do(t, b.user, "POST", "/api/conversations",
					map[string]any{"bot_id": "bot-1", "user_id": "u", "create_user_if_not_exists": true})
				statuses[i] = res.status
				if c, ok := res.body["conversation"].(map[string]any); ok {
					ids[i] = c["id"].(string)
				}
			}()
		}
		wg.Wait()
		created := 0
		for i, s := range statuses {
			require.Contains(t, []int{200, 201}, s)
			require.Equal(t, ids[0], ids[i])
			if s == 201 {
				created++
			}
		}
		require.Equal(t, 1, created)
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		msgs := "/api/conversations/" + id + "/messages"
		long := strings.Repeat("x", parley.MaxTextLen+1)
		cases := []struct {
			name   string
			method string
			path   string
			body   any
			status int
			field  string
		}{
			{"invalid JSON", "POST", msgs, `{"message": {"text": "hi"`, 400, "body"},
			{"wrong type", "POST", msgs, map[string]any{"message": map[string]any{"text": 5}}, 422, "body.message.text"},
			{"missing message", "POST", msgs, map[string]any{}, 422, "body.message"},
			{"empty message", "POST", msgs, map[string]any{"message": map[string]any{"text": "  "}}, 422, "body.message.text"},
			{"text too long", "POST", msgs, map[string]any{"message": map[string]any{"text": long}}, 422, "body.message.text"},
			{"bad media url", "POST", msgs, map[string]any{"message": map[string]any{"text": "x",
				"attached_media": []any{map[string]any{"url": "file:///etc/passwd"}}}}, 422, "body.message.attached_media[0].url"},
			{"empty attachment", "POST", msgs, map[string]any{"message": map[string]any{"text": "x",
				"attached_media": []any{map[string]any{}}}}, 422, "body.message.attached_media[0]"},
			{"metadata not an object", "POST", msgs, map[string]any{"message": map[string]any{"text": "x", "metadata": []int{1}}},
				422, "body.message.metadata"},
			{"unknown field", "POST", msgs, map[string]any{"message": map[string]any{"text": "x", "txt": "y"}}, 422, "body.message.txt"},
			{"unknown conversation", "POST", "/api/conversations/" + parley.NewID() + "/messages",
				map[string]any{"message": map[string]any{"text": "x"}}, 404, ""},
			{"unknown bot", "POST", "/api/conversations", map[string]any{"bot_id": "nope", "user_id": "u",
				"create_user_if_not_exists": true}, 404, "body.bot_id"},
			{"unknown user", "POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "ghost"}, 404, "body.user_id"},
			{"missing bot_id", "POST", "/api/conversations", map[string]any{"user_id": "u"}, 422, "body.bot_id"},
			{"bad webhook", "POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "u",
				"create_user_if_not_exists": true, "webhook": "javascript:alert(1)"}, 422, "body.webhook"},
			{"control character id", "POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "u\x00",
				"create_user_if_not_exists": true}, 422, "body.user_id"},
			{"id too long", "POST", "/api/bots", map[string]any{"id": strings.Repeat("b", 129)}, 422, "body.id"},
			{"duplicate bot", "POST", "/api/bots", map[string]any{"id": "bot-1"}, 409, "body.id"},
			{"nested kv", "PUT", "/api/users/u2", map[string]any{"kv": map[string]any{"a": map[string]any{"b": 1}}}, 422, "body.kv.a"},
			// The text limit is in bytes: 11,000 "€" are 33,000.
			{"text over the byte limit", "POST", msgs, map[string]any{"message": map[string]any{"text": strings.Repeat("€", 11000)}},
				422, "body.message.text"},
			{"bubble over the byte limit", "POST", msgs, map[string]any{"message": map[string]any{
				"bubbles": []string{strings.Repeat("😀", 8001)}}}, 422, "body.message.bubbles[0]"},
			// Ids are of the documented alphabet.
			{"slash in an id", "POST", "/api/bots", map[string]any{"id": "a/b"}, 422, "body.id"},
			{"dot-dot id", "POST", "/api/bots", map[string]any{"id": ".."}, 422, "body.id"},
			{"path in an id", "POST", "/api/bots", map[string]any{"id": "../x"}, 422, "body.id"},
			{"space in an id", "PUT", "/api/users/a%20b", map[string]any{}, 422, "path.id"},
			{"replacement characters id", "POST", "/api/conversations", map[string]any{"bot_id": "bot-1",
				"user_id": "\ufffd\ufffd", "create_user_if_not_exists": true}, 422, "body.user_id"},
			{"invalid UTF-8 id", "POST", "/api/conversations", "{\"bot_id\":\"bot-1\",\"user_id\":\"\xff\xfe\"," +
				"\"create_user_if_not_exists\":true}", 422, "body.user_id"},
			{"negative wait", "POST", msgs + "?wait=-5s", map[string]any{"message": map[string]any{"text": "x"}}, 422, "query.wait"},
			{"bad percent-encoding", "GET", "/api/conversations?cursor=%%%", nil, 422, "query.cursor"},
			{"empty body", "POST", "/api/conversations", "", 400, "body"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := b.do(t, b.admin, tc.method, tc.path, tc.body)
				require.Equal(t, tc.status, res.status, res.raw)
				require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
				require.Equal(t, float64(tc.status), res.body["status"])
				if tc.field != "" {
					require.Equal(t, tc.field, problemField(res), res.raw)
				}
			})
		}
		// Too large: 413, before anything is parsed.
		huge := `{"message":{"text":"` + strings.Repeat("y", parley.MaxBodyBytes) + `"}}`
		res := b.do(t, b.admin, "POST", msgs, huge)
		require.Equal(t, 413, res.status, res.raw)

		// Nothing above was written.
		res = b.do(t, b.admin, "GET", "/api/conversations/"+id, nil)
		require.Empty(t, res.body["messages"])
		require.Equal(t, 404, b.do(t, b.admin, "GET", "/api/users/u", nil).status)
		require.Equal(t, 404, b.do(t, b.admin, "GET", "/api/users/u2", nil).status)
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		res := b.do(t, "", "GET", "/api/conversations", nil)
		require.Equal(t, 401, res.status)
		require.Equal(t, "header.Authorization", problemField(res))
		require.NotEmpty(t, res.header.Get("WWW-Authenticate"))
		require.Equal(t, 401, b.do(t, "prly_nope", "GET", "/api/conversations", nil).status)
		require.Equal(t, 200, b.do(t, "", "GET", "/healthz", nil).status)
		require.Equal(t, 200, b.do(t, "", "GET", "/readyz", nil).status)
		require.Equal(t, 200, b.do(t, "", "GET", "/openapi.json", nil).status)

		// Non-admin tokens use the conversation API but manage nothing.
		require.Equal(t, 403, b.do(t, b.user, "POST", "/api/bots", map[string]any{"id": "x"}).status)
		require.Equal(t, 403, b.do(t, b.user, "POST", "/api/tokens", map[string]any{}).status)
		require.Equal(t, 403, b.do(t, b.other, "POST", "/api/tenants", map[string]any{"name": "x"}).status,
			"only the default tenant's admins create tenants")

		res = b.do(t, b.admin, "POST", "/api/tenants", map[string]any{"name": "newco"})
		require.Equal(t, 201, res.status, res.raw)
		secret := res.body["secret"].(string)
		require.True(t, strings.HasPrefix(secret, parley.TokenPrefix))
		require.Equal(t, 201, b.do(t, secret, "POST", "/api/bots", map[string]any{"id": "bot-1"}).status,
			"the new tenant's admin token works")

		res = b.do(t, b.admin, "POST", "/api/tokens", map[string]any{"name": "ci"})
		require.Equal(t, 201, res.status)
		tokID := res.body["token"].(map[string]any)["id"].(string)
		ci := res.body["secret"].(string)
		require.Equal(t, 200, b.do(t, ci, "GET", "/api/bots", nil).status)
		require.Equal(t, 404, b.do(t, b.other, "DELETE", "/api/tokens/"+tokID, nil).status)
		require.Equal(t, 204, b.do(t, b.admin, "DELETE", "/api/tokens/"+tokID, nil).status)
		require.Equal(t, 401, b.do(t, ci, "GET", "/api/bots", nil).status, "revoked")
	})
}

// TestTenantIsolation calls every endpoint that takes an id with another
// tenant's token: each must answer 404 and change nothing.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		b.send(t, b.user, id, "secret plans")
		res := b.do(t, b.admin, "POST", "/api/tokens", map[string]any{})
		tokID := res.body["token"].(map[string]any)["id"].(string)

		cases := []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/conversations/" + id, nil},
			{"GET", "/api/conversations/" + id + "/messages", nil},
			{"POST", "/api/conversations/" + id + "/messages", map[string]any{"message": map[string]any{"text": "x"}}},
			{"POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "user-1"}},
			{"GET", "/api/bots/bot-1", nil},
			{"PATCH", "/api/bots/bot-1", map[string]any{"name": "pwned"}},
			{"DELETE", "/api/bots/bot-1", nil},
			{"GET", "/api/users/user-1", nil},
			{"PATCH", "/api/users/user-1", map[string]any{"language": "xx"}},
			{"DELETE", "/api/users/user-1", nil},
			{"DELETE", "/api/tokens/" + tokID, nil},
			{"GET", "/api/conversations/" + id + "/events", nil},
			{"GET", "/api/conversations/" + id + "/messages/1/context", nil},
		}
		for _, tc := range cases {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				res := b.do(t, b.other, tc.method, tc.path, tc.body)
				require.Equal(t, 404, res.status, res.raw)
			})
		}
		// Lists show nothing of tenant A.
		for _, path := range []string{"/api/conversations", "/api/conversations?bot_id=bot-1", "/api/bots"} {
			res := b.do(t, b.other, "GET", path, nil)
			require.Equal(t, 200, res.status)
			for _, v := range res.body {
				if list, ok := v.([]any); ok {
					require.Empty(t, list, path)
				}
			}
		}
		res = b.do(t, b.other, "GET", "/api/tokens", nil)
		require.Len(t, res.body["tokens"], 1, "only its own token")

		// Everything of tenant A is intact.
		res = b.do(t, b.admin, "GET", "/api/conversations/"+id, nil)
		require.Equal(t, 200, res.status)
		require.Len(t, res.body["messages"], 1)
		res = b.do(t, b.admin, "GET", "/api/bots/bot-1", nil)
		require.Equal(t, "", res.body["name"])
		res = b.do(t, b.admin, "GET", "/api/users/user-1", nil)
		require.Equal(t, 200, res.status)
		require.Equal(t, "", res.body["language"])
	})
}

func TestUsersAndBots(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		res := b.do(t, b.user, "PUT", "/api/users/user-789", map[string]any{"platform": "Qkkie", "language": "es",
			"kv": map[string]any{"plan": "gold", "vip": true}})
		require.Equal(t, 201, res.status, res.raw)
		res = b.do(t, b.user, "PATCH", "/api/users/user-789", map[string]any{"kv": map[string]any{"plan": nil, "city": "Lima"}})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, map[string]any{"vip": true, "city": "Lima"}, res.body["kv"])
		require.Equal(t, "Qkkie", res.body["platform"])

		res = b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "bot-9", "persona": "You sell shoes.",
			"model": map[string]any{"model": "gpt-x", "temperature": 0.5}})
		require.Equal(t, 201, res.status, res.raw)
		res = b.do(t, b.admin, "PATCH", "/api/bots/bot-9", map[string]any{"language": "pt"})
		require.Equal(t, 200, res.status)
		require.Equal(t, "You sell shoes.", res.body["persona"])
		require.Equal(t, "pt", res.body["language"])
		require.Equal(t, map[string]any{"model": "gpt-x", "temperature": 0.5}, res.body["model"])

		id := b.conversation(t, b.admin, "bot-9", "user-789")
		conv := b.do(t, b.user, "GET", "/api/conversations/"+id, nil).body["conversation"].(map[string]any)
		require.Equal(t, "es", conv["language"], "the user's language wins over the bot's")
		require.Equal(t, 204, b.do(t, b.user, "DELETE", "/api/users/user-789", nil).status)
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/conversations/"+id, nil).status, "erased with the user")
		require.Equal(t, 204, b.do(t, b.admin, "DELETE", "/api/bots/bot-9", nil).status)
		require.Equal(t, 404, b.do(t, b.admin, "GET", "/api/bots/bot-9", nil).status)
	})
}

// stream reads server-sent events from an open response.
type stream struct {
	events chan map[string]string
	cancel context.CancelFunc
}

func (b *testBundle) stream(t *testing.T, token, path string, headers ...string) (*stream, int) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.client.Do(req)
	require.NoError(t, err)
	if res.StatusCode != 200 {
		res.Body.Close()
		cancel()
		return nil, res.StatusCode
	}
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &stream{events: make(chan map[string]string, 100), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		ev := map[string]string{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if len(ev) > 0 {
					s.events <- ev
				}
				ev = map[string]string{}
				continue
			}
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, ":") {
				ev[k] = v
			}
		}
		close(s.events)
	}()
	return s, 200
}

func (s *stream) next(t *testing.T) map[string]string {
	select {
	case ev, ok := <-s.events:
		require.True(t, ok, "stream ended")
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return nil
	}
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		s, status := b.stream(t, b.user, "/api/conversations/"+id+"/events")
		require.Equal(t, 200, status)
		ev := s.next(t)
		require.Equal(t, "conversation.created", ev["event"], "the backlog first")
		first := ev["id"]

		res := b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages",
			map[string]any{"message": map[string]any{"text": "operator here", "from_bot": true}})
		require.Equal(t, 201, res.status)
		ev = s.next(t)
		require.Equal(t, "message.created", ev["event"])
		require.Contains(t, ev["data"], "operator here")
		second := ev["id"]

		b.hub.PublishDelta(parley.Delta{ConversationID: id, UptoSeq: 1, Text: "Hel"})
		ev = s.next(t)
		require.Equal(t, "message.delta", ev["event"])
		require.Contains(t, ev["data"], `"text":"Hel"`)
		require.Empty(t, ev["id"], "deltas are not resumable")
		s.cancel()

		// Resume after the first event: only the second comes back.
		s, _ = b.stream(t, b.user, "/api/conversations/"+id+"/events", "Last-Event-ID", first)
		ev = s.next(t)
		require.Equal(t, second, ev["id"])
		s.cancel()

		_, status = b.stream(t, b.user, "/api/conversations/"+id+"/events", "Last-Event-ID", "x")
		require.Equal(t, 400, status)
		_, status = b.stream(t, b.other, "/api/conversations/"+id+"/events")
		require.Equal(t, 404, status)
	})
}

func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		start := time.Now()
		res := b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages", map[string]any{"message": map[string]any{"text": "hi"}},
			"Prefer", "wait=1")
		require.Equal(t, 201, res.status, res.raw)
		require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
		require.Equal(t, "pending", res.body["reply_status"], "no worker runs here: the wait ends first")
		follow := res.body["follow"].(map[string]any)
		require.Equal(t, "/api/conversations/"+id+"/events", follow["events"])
		page := b.do(t, b.user, "GET", follow["messages"].(string), nil)
		require.Equal(t, 200, page.status)
		require.Empty(t, page.body["messages"], "the follow link starts after the message")

		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages?wait=soon", map[string]any{"message": map[string]any{"text": "hi"}})
		require.Equal(t, 422, res.status)
		require.Equal(t, "query.wait", problemField(res))
		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages", map[string]any{"message": map[string]any{"text": "hi"}})
		require.Nil(t, res.body["reply_status"], "no wait asked, no wait fields")
	})
}

// readCounter is a store that counts its reads of a conversation's
// messages.
type readCounter struct {
	httpapi.Store
	reads atomic.Int64
}

func (r *readCounter) ListMessages(ctx context.Context, tenantID, conversationID string, q parley.HistoryQuery) ([]parley.Message, error) {
	r.reads.Add(1)
	return r.Store.ListMessages(ctx, tenantID, conversationID, q)
}

// TestWaitReadsWhenStored: a wait for a reply reads the conversation when
// an event is stored, not before (the message is new) nor at each delta of
// the reply being made (a streaming model sends dozens a reply); a
// replayed append's wait reads at once.
func TestWaitReadsWhenStored(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		hub := live.NewHub()
		// PostgreSQL's store signals every subscriber once its listener
		// listens (news may have been missed before): heard here first, so
		// that it does not count as a read of the wait's.
		listening, stop := hub.Subscribe("probe")
		st := &readCounter{Store: enginetest.Open(t, engine, enginetest.Options{Hub: hub})}
		if engine == enginetest.Postgres {
			select {
			case <-listening:
			case <-time.After(10 * time.Second):
				t.Fatal("the store's listener did not signal")
			}
		}
		stop()
		b := setup(t, st, hub)
		id := b.conversation(t, b.admin, "bot-1", "user-1")
		type waited struct {
			status string
			err    error
		}
		done := make(chan waited, 1)
		go func() {
			req, _ := http.NewRequest("POST", b.url+"/api/conversations/"+id+"/messages?wait=20s",
				strings.NewReader(`{"message": {"text": "hi"}}`))
			req.Header.Set("Authorization", "Bearer "+b.user)
			res, err := b.client.Do(req)
			if err != nil {
				done <- waited{err: err}
				return
			}
			defer res.Body.Close()
			var body struct {
				ReplyStatus string `json:"reply_status"`
			}
			err = json.NewDecoder(res.Body).Decode(&body)
			done <- waited{body.ReplyStatus, err}
		}()
		require.Eventually(t, func() bool { return hub.Subscribers() > 0 }, 10*time.Second, 5*time.Millisecond)
		for i := range 50 {
			hub.PublishDelta(parley.Delta{ConversationID: id, UptoSeq: 1, Text: fmt.Sprint("piece ", i)})
		}
		require.Eventually(t, func() bool {
			page, err := st.Store.ListMessages(ctx, b.tenant, id, parley.HistoryQuery{Limit: 1})
			return err == nil && len(page) == 1
		}, 10*time.Second, 5*time.Millisecond, "the message is stored")
		_, err := st.StoreReply(ctx, b.tenant, id, parley.Reply{UptoSeq: 1,
			Message: parley.NewMessage{FromBot: true, Text: "hello", Bubbles: []string{"hello"},
				Metadata: json.RawMessage(`{"reply": {"answers_seq": [1, 1]}}`)}})
		require.NoError(t, err)
		got := <-done
		require.NoError(t, got.err)
		require.Equal(t, "replied", got.status)
		require.Equal(t, int64(1), st.reads.Load(), "one read, at the reply's event: none before it (the message is new), none for the 50 deltas")

		// A retried append (its Idempotency-Key replayed) may have had its
		// reply already, and no event will come: the wait reads first.
		body := map[string]any{"message": map[string]any{"text": "again"}}
		res := b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages", body, "Idempotency-Key", "k-1")
		require.Equal(t, 201, res.status, res.raw)
		seq := int64(res.body["message"].(map[string]any)["seq"].(float64))
		_, err = st.StoreReply(ctx, b.tenant, id, parley.Reply{UptoSeq: seq,
			Message: parley.NewMessage{FromBot: true, Text: "hello again", Bubbles: []string{"hello again"},
				Metadata: json.RawMessage(fmt.Sprintf(`{"reply": {"answers_seq": [%d, %d]}}`, seq, seq))}})
		require.NoError(t, err)
		res = b.do(t, b.user, "POST", "/api/conversations/"+id+"/messages?wait=5s", body, "Idempotency-Key", "k-1")
		require.Equal(t, 201, res.status, res.raw)
		require.Equal(t, "replied", res.body["reply_status"], res.raw)
		require.Equal(t, "hello again", res.body["reply"].(map[string]any)["text"])
	})
}

func TestWebhookAdmin(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		require.Equal(t, 403, b.do(t, b.user, "GET", "/api/webhook-secrets", nil).status)
		res := b.do(t, b.admin, "POST", "/api/webhook-secrets/rotate", map[string]any{"overlap_seconds": 60})
		require.Equal(t, 201, res.status, res.raw)
		require.True(t, strings.HasPrefix(res.body["secret"].(string), "whsec_"))
		res = b.do(t, b.admin, "POST", "/api/webhook-secrets/rotate", map[string]any{"secret": "whsec_bad"})
		require.Equal(t, 422, res.status)
		require.Equal(t, "body.secret", problemField(res))
		res = b.do(t, b.admin, "GET", "/api/webhook-secrets", nil)
		require.Len(t, res.body["secrets"], 1)
		res = b.do(t, b.other, "GET", "/api/webhook-secrets", nil)
		require.Empty(t, res.body["secrets"], "secrets are per tenant")

		// A conversation with a webhook gets deliveries in the log.
		require.Equal(t, 201, b.do(t, b.admin, "POST", "/api/bots", map[string]any{"id": "bot-w"}).status)
		res = b.do(t, b.user, "POST", "/api/conversations", map[string]any{"bot_id": "bot-w", "user_id": "u",
			"create_user_if_not_exists": true, "webhook": "https://hooks.example.com/p"})
		id := res.body["conversation"].(map[string]any)["id"].(string)
		res = b.do(t, b.user, "GET", "/api/webhook-deliveries?conversation_id="+id, nil)
		require.Equal(t, 200, res.status, res.raw)
		ds := res.body["deliveries"].([]any)
		require.Len(t, ds, 1)
		d := ds[0].(map[string]any)
		require.Equal(t, "conversation.created", d["event_type"])
		require.Equal(t, "pending", d["status"])
		require.Equal(t, "https://hooks.example.com/p", d["url"])
		require.Empty(t, b.do(t, b.other, "GET", "/api/webhook-deliveries", nil).body["deliveries"])
		require.Equal(t, 404, b.do(t, b.other, "POST", "/api/webhook-deliveries/"+d["id"].(string)+"/replay", nil).status)
		require.Equal(t, 403, b.do(t, b.user, "POST", "/api/webhook-deliveries/"+d["id"].(string)+"/replay", nil).status)
		require.Equal(t, 202, b.do(t, b.admin, "POST", "/api/webhook-deliveries/"+d["id"].(string)+"/replay", nil).status)
		res = b.do(t, b.user, "GET", "/api/webhook-deliveries?status=bogus", nil)
		require.Equal(t, 422, res.status)
	})
}
