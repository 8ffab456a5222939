package httpapi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestV1RefusedWritesNothing: a V1 call that is refused (an unknown bot, a
// V3 conversation of another user) creates no user and changes none.
func TestV1RefusedWritesNothing(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		body := func(conv, bot, user string) map[string]any {
			return map[string]any{"conversation_id": conv, "bot_id": bot, "user_id": user, "message": "hi",
				"language": "fr", "user_kv_pairs": map[string]any{"plan": "gold"}}
		}
		res := b.do(t, b.admin, "POST", "/v2/complete", body("chat-1", "no-such-bot", "newcomer"))
		require.Equal(t, 404, res.status, res.raw)
		require.Equal(t, "body.bot_id", problemField(res))
		_, err := b.store.GetUser(ctx, b.tenant, "newcomer")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "no user was created")

		conv := b.conversation(t, b.admin, "bot-1", "alice")
		_, _, err = b.store.PutUser(ctx, b.tenant, &parley.User{ID: "bob", Language: "en", KV: map[string]any{"plan": "free"}})
		require.NoError(t, err)
		res = b.do(t, b.admin, "POST", "/v2/complete", body(conv, "bot-1", "bob"))
		require.Equal(t, 422, res.status, res.raw)
		require.Equal(t, "body.conversation_id", problemField(res))
		bob, err := b.store.GetUser(ctx, b.tenant, "bob")
		require.NoError(t, err)
		require.Equal(t, "en", bob.Language, "the user is unchanged")
		require.Equal(t, map[string]any{"plan": "free"}, bob.KV)

		// Nested values are refused, and the field is the V1 body's own.
		bad := body("chat-2", "bot-1", "bob")
		bad["user_kv_pairs"] = map[string]any{"a": map[string]any{"b": 1}}
		res = b.do(t, b.admin, "POST", "/v2/complete", bad)
		require.Equal(t, 422, res.status, res.raw)
		require.Equal(t, "body.user_kv_pairs.a", problemField(res))

		// A type error names the field too.
		res = b.do(t, b.admin, "POST", "/v2/complete", map[string]any{"conversation_id": 5, "bot_id": "bot-1",
			"user_id": "bob", "message": "hi"})
		require.Equal(t, 422, res.status, res.raw)
		require.Equal(t, "body.conversation_id", problemField(res), res.raw)
		res = b.do(t, b.admin, "POST", "/v2/complete", map[string]any{"conversation_id": "c", "bot_id": "bot-1",
			"user_id": "bob", "message": "hi", "messages": []any{map[string]any{"bot": "yes", "content": []string{"x"}}}})
		require.Equal(t, 422, res.status, res.raw)
		require.Equal(t, "body.messages.bot", problemField(res), res.raw, "the decoder gives no index")
	})
}
