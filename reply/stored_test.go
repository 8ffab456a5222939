package reply

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestDescribeIsStable pins how a history message becomes the model's text
// under renderVersion 1: stored contexts are expanded with describe, so a
// change here must come with a new render version (see stored.go).
func TestDescribeIsStable(t *testing.T) {
	cases := []struct {
		name string
		m    parley.Message
		want string
	}{
		{"text", parley.Message{Text: "Hello there"}, "Hello there"},
		{"trimmed", parley.Message{Text: "  padded \n"}, "padded"},
		{"media by url", parley.Message{Text: "look", AttachedMedia: []parley.Media{{URL: "https://x.test/a.png", MediaType: "image/png"}}},
			"look\n[attached image/png: https://x.test/a.png]"},
		{"media without type", parley.Message{AttachedMedia: []parley.Media{{URL: "https://x.test/f"}}}, "[attached file: https://x.test/f]"},
		{"library item", parley.Message{Text: "this", AttachedMedia: []parley.Media{{ContentID: "c-1"}}}, "this\n[attached library item c-1]"},
		{"empty", parley.Message{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, describe(tc.m))
		})
	}
}

type expanded struct {
	Messages []expandedMessage `json:"messages"`
	Parts    []Part            `json:"parts"`
	Tokens   int               `json:"tokens"`
	Budget   int               `json:"budget"`
	Window   int64             `json:"window_start"`
	Provider string            `json:"provider"`
	Model    string            `json:"model"`
}

func TestStoredContextRoundTrip(t *testing.T) {
	ctx := context.Background()
	media := parley.Message{Text: "see this", AttachedMedia: []parley.Media{{URL: "https://x.test/p.jpg", MediaType: "image/jpeg"}}}
	cases := []struct {
		name     string
		history  int
		budget   int
		extra    *parley.Message // appended before the pending message
		pending  string
		refs     bool
		wantRefs bool
	}{
		{name: "window by reference", history: 30, budget: 2000, pending: "what about the weather now?", refs: true, wantRefs: true},
		{name: "media described", history: 5, budget: 2000, extra: &media, pending: "and this?", refs: true, wantRefs: true},
		{name: "window longer than a read", history: 1200, budget: 200_000, pending: "all of it", refs: true, wantRefs: true},
		{name: "client history kept whole", history: 30, budget: 2000, pending: "V1 call", refs: false},
		// The pending message alone exceeds the budget: it is sent cut,
		// so its text is stored, not a reference.
		{name: "cut message kept whole", history: 3, budget: 300, pending: strings.Repeat("a long question ", 400), refs: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := conversationOf(tc.history)
			if tc.extra != nil {
				m := *tc.extra
				m.Seq = int64(len(s.msgs) + 1)
				s.msgs = append(s.msgs, m)
			}
			s.say(tc.pending, false)
			budget := tc.budget
			c := Assemble(Input{Bot: parley.Bot{Name: "Bot", Model: parley.ModelSettings{ContextTokens: budget}},
				History: s.msgs, AnsweredSeq: int64(len(s.msgs) - 1)})
			stored := c.marshalStored("builtin", "m1", tc.refs)

			var raw storedContext
			require.NoError(t, json.Unmarshal(stored, &raw))
			refs := 0
			for _, m := range raw.Messages {
				if m.Ref > 0 {
					refs++
					require.Empty(t, m.Content, "a reference carries no text")
				}
			}
			if tc.wantRefs {
				require.Equal(t, len(c.Messages)-1, refs, "every history message by reference")
				require.NotContains(t, string(stored), "said at length", "no history text stored")
				require.Less(t, len(stored), 2048+len(c.Messages)*32, "a stored context is small")
			} else {
				require.Zero(t, refs)
				require.Zero(t, raw.Render)
			}

			got, err := ExpandContext(ctx, s, "t", "c", stored)
			require.NoError(t, err)
			var e expanded
			require.NoError(t, json.Unmarshal(got, &e))
			require.Len(t, e.Messages, len(c.Messages))
			for i, m := range c.Messages {
				require.Equal(t, m.Role, e.Messages[i].Role, "message %d", i)
				require.Equal(t, m.Content, e.Messages[i].Content, "message %d", i)
				if tc.refs && i > 0 && c.seqs[i] > 0 {
					require.Equal(t, c.seqs[i], e.Messages[i].Seq)
					require.Equal(t, describe(s.msgs[c.seqs[i]-1]), e.Messages[i].Content)
				}
			}
			require.Equal(t, expanded{Messages: e.Messages, Parts: c.Parts, Tokens: c.Tokens, Budget: c.Budget,
				Window: c.WindowStart, Provider: "builtin", Model: "m1"}, e)
			require.NotContains(t, string(got), `"render"`)
			require.NotContains(t, string(got), `"ref"`)
		})
	}
}

func TestExpandContext(t *testing.T) {
	ctx := context.Background()
	s := conversationOf(4)
	t.Run("stored whole before references", func(t *testing.T) {
		old := json.RawMessage(`{"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}],"parts":[]}`)
		got, err := ExpandContext(ctx, s, "t", "c", old)
		require.NoError(t, err)
		require.JSONEq(t, string(old), string(got))
	})
	t.Run("a missing message is an error", func(t *testing.T) {
		_, err := ExpandContext(ctx, s, "t", "c", json.RawMessage(`{"messages":[{"role":"user","ref":9}],"render":1}`))
		require.ErrorContains(t, err, "message 9")
	})
	t.Run("an unknown rendering is an error", func(t *testing.T) {
		_, err := ExpandContext(ctx, s, "t", "c", json.RawMessage(`{"messages":[{"role":"user","ref":1}],"render":2}`))
		require.ErrorContains(t, err, "version 2")
	})
	t.Run("store errors pass", func(t *testing.T) {
		_, err := ExpandContext(ctx, failingLister{}, "t", "c", json.RawMessage(`{"messages":[{"role":"user","ref":1}],"render":1}`))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

// failingLister is a store whose ListMessages fails; nothing else is
// called.
type failingLister struct{ parley.Conversations }

func (failingLister) ListMessages(context.Context, string, string, parley.HistoryQuery) ([]parley.Message, error) {
	return nil, parley.Errorf(parley.ENOTFOUND, "conversation not found")
}
