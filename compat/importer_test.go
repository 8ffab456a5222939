package compat_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/compat"
	"github.com/parley-chat/parley/internal/enginetest"
)

func engines(t *testing.T, fn func(t *testing.T, st parley.Store)) {
	enginetest.Run(t, func(t *testing.T, engine string) { fn(t, enginetest.Open(t, engine, enginetest.Options{})) })
}

const input = `{"conversation_id":"chat-1","bot_id":"bot-456","user_id":"u1","messages":[{"bot":true,"content":["Hi there!"]},{"bot":false,"content":["Hey"]}],"message":"Hello","user_kv_pairs":{"plan":"gold"}}

{"conversation_id":"chat-2","bot_id":"nope","user_id":"u2"}
not json
{"conversation_id":"chat-3","bot_id":"bot-456","user_id":"u3","messages":[{"bot":true,"content":[5]}]}
{"conversation_id":"","bot_id":"bot-456","user_id":"u4"}
{"conversation_id":"chat-5","bot_id":"bot-456","user_id":"u5","messages":[{"bot":false,"content":["one"]},{"bot":true,"content":["two","three"]}]}
`

func TestImportExport(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, st parley.Store) {
		ctx := context.Background()
		a, err := st.EnsureTenant(ctx, "a")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, a.ID, &parley.Bot{ID: "bot-456", Webhook: "https://hooks.example.com"})
		require.NoError(t, err)

		var report bytes.Buffer
		sum, err := compat.Import(ctx, st, a.ID, strings.NewReader(input), &report, nil)
		require.NoError(t, err)
		require.Equal(t, compat.Summary{Records: 6, Imported: 2, Bad: 4, Messages: 5}, sum)
		lines := strings.Split(strings.TrimSpace(report.String()), "\n")
		require.Len(t, lines, 4)
		require.True(t, strings.HasPrefix(lines[0], "line 3: bot_id:"), lines[0])
		require.True(t, strings.HasPrefix(lines[1], "line 4: "), lines[1])
		require.True(t, strings.HasPrefix(lines[2], "line 5: "), lines[2])
		require.True(t, strings.HasPrefix(lines[3], "line 6: conversation_id:"), lines[3])

		again, err := compat.Import(ctx, st, a.ID, strings.NewReader(input), &bytes.Buffer{}, nil)
		require.NoError(t, err)
		require.Equal(t, 2, again.UpToDate, "idempotent")
		require.Zero(t, again.Messages)

		u, err := st.GetUser(ctx, a.ID, "u1")
		require.NoError(t, err)
		require.Equal(t, map[string]any{"plan": "gold"}, u.KV)

		// A longer history later appends only what is new; a different one
		// is refused and changes nothing.
		next := `{"conversation_id":"chat-5","bot_id":"bot-456","user_id":"u5","messages":[{"bot":false,"content":["one"]},{"bot":true,"content":["two","three"]}],"message":"four"}
{"conversation_id":"chat-5","bot_id":"bot-456","user_id":"u5","messages":[{"bot":false,"content":["ONE"]}]}`
		report.Reset()
		sum, err = compat.Import(ctx, st, a.ID, strings.NewReader(next), &report, nil)
		require.NoError(t, err)
		require.Equal(t, 1, sum.Messages)
		require.Equal(t, 1, sum.Bad)
		require.Contains(t, report.String(), "messages:")

		for _, format := range []string{"v1", "v3"} {
			var out bytes.Buffer
			n, err := compat.Export(ctx, st, a.ID, "", format, &out)
			require.NoError(t, err)
			require.Equal(t, 2, n)
			// What one tenant exports, another imports whole.
			b, err := st.EnsureTenant(ctx, "b-"+format)
			require.NoError(t, err)
			_, err = st.CreateBot(ctx, b.ID, &parley.Bot{ID: "bot-456"})
			require.NoError(t, err)
			sum, err := compat.Import(ctx, st, b.ID, &out, &bytes.Buffer{}, nil)
			require.NoError(t, err)
			require.Equal(t, compat.Summary{Records: 2, Imported: 2, Messages: 6}, sum, format)
		}
		convs, err := st.ListConversations(ctx, a.ID, parley.ConversationFilter{Limit: 10})
		require.NoError(t, err)
		for _, c := range convs {
			msgs, err := st.ListMessages(ctx, a.ID, c.ID, parley.HistoryQuery{Limit: 50})
			require.NoError(t, err)
			require.NotEmpty(t, msgs)
		}
	})
}

// TestImportKeepsDates: history items with a date keep it, through an
// export and an import into another tenant.
func TestImportKeepsDates(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, st parley.Store) {
		ctx := context.Background()
		var tenants [2]string
		for i, name := range []string{"from", "to"} {
			tn, err := st.EnsureTenant(ctx, name)
			require.NoError(t, err)
			_, err = st.CreateBot(ctx, tn.ID, &parley.Bot{ID: "bot"})
			require.NoError(t, err)
			tenants[i] = tn.ID
		}
		line := `{"conversation_id":"c","bot_id":"bot","user_id":"u","messages":[` +
			`{"bot":false,"content":["I went hiking yesterday"],"at":"2023-05-08T13:56:00Z"},{"bot":true,"content":["Nice!"]}]}`
		_, err := compat.Import(ctx, st, tenants[0], strings.NewReader(line), &bytes.Buffer{}, nil)
		require.NoError(t, err)
		var out bytes.Buffer
		_, err = compat.Export(ctx, st, tenants[0], "", "v1", &out)
		require.NoError(t, err)
		require.Contains(t, out.String(), `"at":"2023-05-08T13:56:00Z"`)
		_, err = compat.Import(ctx, st, tenants[1], &out, &bytes.Buffer{}, nil)
		require.NoError(t, err)
		convs, err := st.ListConversations(ctx, tenants[1], parley.ConversationFilter{Limit: 10})
		require.NoError(t, err)
		msgs, err := st.ListMessages(ctx, tenants[1], convs[0].ID, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, "2023-05-08T13:56:00Z", msgs[0].CreatedAt.Format(time.RFC3339))
	})
}
