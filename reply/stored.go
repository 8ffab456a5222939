package reply

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/parley-chat/parley"
)

// A reply's context is kept for operators (GET
// /api/conversations/{id}/messages/{seq}/context) in a compact form: a
// message sent verbatim from the conversation's history is stored as a
// reference to it ("ref": its seq), not as its text again. A context is
// mostly history — at the default budget about 16 KB a reply, most of what
// a reply wrote to the store and, after a while, most of the database —
// and the history is kept anyway. ExpandContext puts the texts back.

// renderVersion names how a referenced message became the text the model
// was sent (describe). Stored contexts carry it: a change to describe needs
// a new version, with ExpandContext still rendering the old ones as they
// were sent (TestDescribeIsStable pins version 1).
const renderVersion = 1

// storedMessage is a context message as stored: its content, or a
// reference to the history message it renders.
type storedMessage struct {
	Role    string `json:"role"`
	Content string `json:"content,omitempty"`
	Ref     int64  `json:"ref,omitempty"`
}

// expandedMessage is a context message as operators read it; Seq names
// the history message it was rendered from.
type expandedMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Seq     int64  `json:"seq,omitempty"`
}

type storedContext struct {
	Messages    []storedMessage `json:"messages"`
	Parts       []Part          `json:"parts"`
	Tokens      int             `json:"tokens"`
	Budget      int             `json:"budget"`
	WindowStart int64           `json:"window_start"`
	Provider    string          `json:"provider"`
	Model       string          `json:"model"`
	Render      int             `json:"render,omitempty"`
}

// marshalStored encodes c as it is stored with its reply. refs is false
// when the history is not the stored one (a V1 client's own): every text
// is then kept.
func (c Context) marshalStored(provider, model string, refs bool) []byte {
	sc := storedContext{Parts: c.Parts, Tokens: c.Tokens, Budget: c.Budget, WindowStart: c.WindowStart,
		Provider: provider, Model: model, Messages: make([]storedMessage, len(c.Messages))}
	for i, m := range c.Messages {
		sc.Messages[i] = storedMessage{Role: m.Role, Content: m.Content}
		if refs && i < len(c.seqs) && c.seqs[i] > 0 {
			sc.Messages[i] = storedMessage{Role: m.Role, Ref: c.seqs[i]}
			sc.Render = renderVersion
		}
	}
	b, _ := json.Marshal(sc) // strings and numbers: cannot fail
	return b
}

// expandPage is how many referenced messages one read brings.
const expandPage = 500

// ExpandContext returns a stored reply context as the model was sent it:
// each referenced message's text read from the conversation and rendered
// as it was then. Contexts stored whole (before references, or for a V1
// client's own history) come back as they are.
func ExpandContext(ctx context.Context, s parley.Conversations, tenantID, conversationID string, stored json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(stored, &fields); err != nil {
		return nil, fmt.Errorf("reply: decode stored context: %w", err)
	}
	render, ok := fields["render"]
	if !ok {
		return stored, nil
	}
	if string(render) != fmt.Sprint(renderVersion) {
		return nil, fmt.Errorf("reply: stored context rendered by version %s, which this server does not know", render)
	}
	var msgs []storedMessage
	if err := json.Unmarshal(fields["messages"], &msgs); err != nil {
		return nil, fmt.Errorf("reply: decode stored context messages: %w", err)
	}
	var lo, hi int64
	for _, m := range msgs {
		if m.Ref > 0 {
			if lo == 0 || m.Ref < lo {
				lo = m.Ref
			}
			hi = max(hi, m.Ref)
		}
	}
	// The references are the history window: one range of seqs.
	bySeq := make(map[int64]parley.Message, hi-lo+1)
	for after := lo - 1; after < hi; {
		page, err := s.ListMessages(ctx, tenantID, conversationID,
			parley.HistoryQuery{AfterSeq: after, BeforeSeq: hi + 1, Limit: expandPage, Order: parley.Ascending})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			bySeq[m.Seq] = m
		}
		after = page[len(page)-1].Seq
	}
	out := make([]expandedMessage, len(msgs))
	for i, m := range msgs {
		out[i] = expandedMessage{Role: m.Role, Content: m.Content}
		if m.Ref > 0 {
			hm, ok := bySeq[m.Ref]
			if !ok {
				return nil, fmt.Errorf("reply: stored context refers to message %d, which is not stored", m.Ref)
			}
			out[i] = expandedMessage{Role: m.Role, Content: describe(hm), Seq: m.Ref}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("reply: encode context messages: %w", err)
	}
	fields["messages"] = b
	delete(fields, "render")
	if b, err = json.Marshal(fields); err != nil {
		return nil, fmt.Errorf("reply: encode context: %w", err)
	}
	return b, nil
}
