package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/compat"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeCursor: any string a client sends as a cursor is either a clean
// 400 or a cursor that encodes back to an equivalent one.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(historyCursor{Order: "asc", After: 3}))
	f.Add(encodeCursor(listCursor{ID: "01a2"}))
	f.Add("")
	f.Add("%%%")
	f.Add("eyJvIjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		var c historyCursor
		if err := decodeCursor(s, "cursor", &c); err != nil {
			return
		}
		var again historyCursor
		require.NoError(t, decodeCursor(encodeCursor(c), "cursor", &again))
		require.Equal(t, c, again)
	})
}

// FuzzMessageInput: whatever body decodes as a message either fails
// validation with a problem or yields a message within every limit.
func FuzzMessageInput(f *testing.F) {
	f.Add(`{"text":"hi","from_bot":false,"attached_media":null}`)
	f.Add(`{"text":"","attached_media":["c-1",{"url":"https://e.com/a.png","media_type":"image/png"}]}`)
	f.Add(`{"bubbles":["a","b"],"metadata":{"k":1}}`)
	f.Add(`{"text":"x","attached_media":[{}]}`)
	f.Add(`{"text":"x","metadata":[1]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in messageInput
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		nm, err := newMessage(in)
		if err != nil {
			return
		}
		require.True(t, nm.Text != "" || len(nm.AttachedMedia) > 0, "a message has text or media")
		if nm.Text != "" {
			require.NotEmpty(t, nm.Bubbles, "text comes with bubbles")
		}
		for _, m := range nm.AttachedMedia {
			require.True(t, m.URL != "" || m.ContentID != "")
		}
		if len(nm.Metadata) > 0 {
			require.Equal(t, byte('{'), nm.Metadata[0])
		}
		require.NotEmpty(t, requestHash(in))
		_ = utf8.ValidString(nm.Text)
	})
}

// FuzzV1Body: a V1 body whose turn passes Validate keeps every limit the schema
// documents, and has text in every history item; one that fails names a
// body field.
func FuzzV1Body(f *testing.F) {
	f.Add(`{"conversation_id":"c","bot_id":"b","user_id":"u","message":"hi","messages":[{"bot":false,"content":["a"]}]}`)
	f.Add(`{"conversation_id":" c","bot_id":"b","user_id":"u","message":"hi"}`)
	f.Add(`{"conversation_id":"c","bot_id":"b","user_id":"u","message":"hi","messages":[{"bot":true,"content":[" "]}]}`)
	f.Add(`{"conversation_id":"c","bot_id":"b","user_id":"u","message":"hi","webhook":"ftp://x","user_kv_pairs":{"k":null}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in v1Input
		if json.Unmarshal([]byte(body), &in.Body) != nil {
			return
		}
		if err := in.turn().Validate(); err != nil {
			var pe *parley.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, parley.EINVALID, pe.Code)
			require.True(t, strings.HasPrefix(pe.Field, "body."), pe.Field)
			return
		}
		b := in.Body
		for _, id := range []string{b.ConversationID, b.BotID, b.UserID} {
			require.True(t, id != "" && utf8.RuneCountInString(id) <= 128 && strings.TrimSpace(id) == id)
		}
		require.LessOrEqual(t, utf8.RuneCountInString(b.Message), 32000)
		require.LessOrEqual(t, len(b.Messages), compat.MaxHistory)
		for _, m := range b.Messages {
			require.LessOrEqual(t, len(m.Content), parley.MaxBubbles)
			require.NotEmpty(t, strings.TrimSpace(strings.Join(m.Content, "")))
		}
	})
}
