package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestUserDataExportAndErase(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		c1 := b.conversation(t, b.admin, "bot-1", "ana")
		c2 := b.conversation(t, b.admin, "bot-2", "ana")
		b.send(t, b.user, c1, "My name is Ana")
		b.send(t, b.user, c2, "I like jazz")
		_, _, err := b.store.AddMemory(t.Context(), b.tenant, "bot-1", "ana", parley.Fact{Kind: parley.KindName, Text: "Name: Ana", Confidence: 1})
		require.NoError(t, err)
		b.conversation(t, b.admin, "bot-1", "bob")

		require.Equal(t, 403, b.do(t, b.user, "GET", "/api/users/ana/export", nil).status, "admins only")
		require.Equal(t, 404, b.do(t, b.other, "GET", "/api/users/ana/export", nil).status, "another tenant")
		res := b.do(t, b.admin, "GET", "/api/users/ana/export", nil)
		require.Equal(t, 200, res.status, res.raw)
		require.Contains(t, res.header.Get("Content-Disposition"), `filename=parley-user-ana.json`)
		var e parley.UserExport
		require.NoError(t, json.Unmarshal([]byte(res.raw), &e))
		require.Equal(t, "ana", e.User.ID)
		require.Len(t, e.Conversations, 2, "every conversation of the user, no one else's")
		texts := map[string]bool{}
		for _, c := range e.Conversations {
			require.Equal(t, "ana", c.Conversation.UserID)
			for _, m := range c.Messages {
				texts[m.Text] = true
			}
		}
		require.True(t, texts["My name is Ana"] && texts["I like jazz"])
		require.Len(t, e.Memories, 1)

		require.Equal(t, 404, b.do(t, b.other, "DELETE", "/api/users/ana", nil).status)
		require.Equal(t, 204, b.do(t, b.user, "DELETE", "/api/users/ana", nil).status)
		require.Equal(t, 404, b.do(t, b.admin, "GET", "/api/users/ana/export", nil).status, "erased")

		require.Equal(t, 403, b.do(t, b.user, "GET", "/api/audit", nil).status)
		res = b.do(t, b.admin, "GET", "/api/audit", nil)
		require.Equal(t, 200, res.status, res.raw)
		entries := res.body["entries"].([]any)
		require.Len(t, entries, 2)
		erase, export := entries[0].(map[string]any), entries[1].(map[string]any)
		require.Equal(t, "user.erase", erase["action"])
		require.Equal(t, "ana", erase["subject"])
		require.NotEmpty(t, erase["token_id"])
		require.Equal(t, map[string]any{"conversations": float64(2), "messages": float64(2), "memories": float64(1)}, erase["counts"])
		require.Equal(t, "user.export", export["action"])
		require.Equal(t, float64(2), export["counts"].(map[string]any)["messages"])
		created, err := time.Parse(time.RFC3339Nano, erase["created_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), created, time.Minute)
		require.Empty(t, b.do(t, b.other, "GET", "/api/audit", nil).body["entries"], "another tenant's log is its own")
	})
}

func TestRetentionRules(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		b.conversation(t, b.admin, "bot-1", "ana")
		require.Equal(t, 403, b.do(t, b.user, "PUT", "/api/bots/bot-1/retention", map[string]any{"days": 30}).status, "admins only")
		require.Equal(t, 404, b.do(t, b.other, "PUT", "/api/bots/bot-1/retention", map[string]any{"days": 30}).status)
		res := b.do(t, b.admin, "PUT", "/api/bots/bot-1/retention", map[string]any{"days": 4000})
		require.Equal(t, 422, res.status)
		require.Equal(t, "body.days", problemField(res))
		res = b.do(t, b.admin, "PUT", "/api/bots/bot-1/retention", map[string]any{"days": 30})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, []any{map[string]any{"bot_id": "bot-1", "days": float64(30)}}, res.body["retention"])
		require.Equal(t, res.body, b.do(t, b.user, "GET", "/api/retention", nil).body)
		require.Empty(t, b.do(t, b.other, "GET", "/api/retention", nil).body["retention"])
		require.Equal(t, 200, b.do(t, b.admin, "PUT", "/api/bots/bot-1/retention", map[string]any{"days": 0}).status)
		require.Empty(t, b.do(t, b.admin, "GET", "/api/retention", nil).body["retention"])
	})
}
