package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

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
	f.Add(`{"text":"` + strings.Repeat("€", 11000) + `"}`)
	f.Add(`{"bubbles":["` + strings.Repeat("😀", 8001) + `"]}`)
	f.Add("{\"text\":\"\xff\xfe\\ud800\"}")
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
		require.LessOrEqual(t, len(nm.Text), parley.MaxTextLen, "the limit is in bytes")
		require.True(t, utf8.ValidString(nm.Text))
		for _, b := range nm.Bubbles {
			require.LessOrEqual(t, len(b), parley.MaxTextLen)
		}
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

// FuzzBearer: an Authorization header yields a token only under the Bearer
// scheme (any case), and never one with surrounding spaces or none at all.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer prly_x", "bearer prly_x", "BEARER  prly_x ", "Basic abc", "Bearer", "Bearer ", "", "prly_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearer(header)
		if !ok {
			require.Empty(t, tok)
			return
		}
		require.NotEmpty(t, tok)
		require.Equal(t, strings.TrimSpace(tok), tok)
		scheme, _, _ := strings.Cut(header, " ")
		require.True(t, strings.EqualFold(scheme, "bearer"), header)
	})
}

// FuzzWait: a wait is refused as a 422 or is between 0 and MaxWait.
func FuzzWait(f *testing.F) {
	for _, s := range []string{"30s", "30", "-5s", "-1", "1h", "", "0", "5ms", "9999999999999999999"} {
		f.Add(s, "")
		f.Add("", "wait="+s)
	}
	f.Fuzz(func(t *testing.T, query, prefer string) {
		d, err := waitFor(query, prefer)
		if err != nil {
			var se huma.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, 422, se.GetStatus())
			return
		}
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, MaxWait)
	})
}
