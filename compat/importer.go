package compat

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parley-chat/parley"
)

// Store is what imports and exports need.
type Store interface {
	parley.Accounts
	parley.Conversations
}

// Record is one line of an import: a V1 body (seed 000's fields; message
// optional) or an export's V3 shape (conversation and messages).
type Record struct {
	ConversationID string         `json:"conversation_id"`
	BotID          string         `json:"bot_id"`
	UserID         string         `json:"user_id"`
	Message        string         `json:"message,omitempty"`
	Messages       []V1Message    `json:"messages"`
	Language       string         `json:"language,omitempty"`
	Platform       string         `json:"platform,omitempty"`
	UserKVPairs    map[string]any `json:"user_kv_pairs,omitempty"`
}

// V1Message is a history item in V1's shape.
type V1Message struct {
	Bot     bool     `json:"bot"`
	Content []string `json:"content"`
	// At is when it was said, if known (exports write it, imports keep it).
	At time.Time `json:"at,omitzero"`
}

type v3Record struct {
	Conversation *parley.Conversation `json:"conversation"`
	Messages     []parley.Message     `json:"messages"`
}

// Summary counts what an import did.
type Summary struct {
	Records, Imported, UpToDate, Bad, Messages int
}

// Import reads JSON lines and stores each record's history, idempotently:
// what is stored already is skipped, what is new is appended, as history
// (no replies, no webhooks). A bad record (unreadable, a missing field, an
// unknown bot, a history that disagrees with the stored one) is reported
// on report with its line number and imports nothing. progress, when set,
// is called after each record.
func Import(ctx context.Context, st Store, tenantID string, r io.Reader, report io.Writer, progress func(Summary)) (Summary, error) {
	var sum Summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		sum.Records++
		n, err := importOne(ctx, st, tenantID, []byte(text))
		switch {
		case err != nil && parley.ErrorCode(err) == parley.EINTERNAL:
			return sum, fmt.Errorf("line %d: %w", line, err)
		case err != nil:
			sum.Bad++
			fmt.Fprintf(report, "line %d: %s\n", line, explain(err))
		case n == 0:
			sum.UpToDate++
		default:
			sum.Imported++
			sum.Messages += n
		}
		if progress != nil {
			progress(sum)
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("read line %d: %w", line+1, err)
	}
	return sum, nil
}

func explain(err error) string {
	if e, ok := err.(*parley.Error); ok && e.Field != "" {
		return e.Field + ": " + e.Message
	}
	if e, ok := err.(*parley.Error); ok {
		return e.Message
	}
	return err.Error()
}

func importOne(ctx context.Context, st Store, tenantID string, line []byte) (int, error) {
	var rec Record
	var v3 v3Record
	if err := json.Unmarshal(line, &v3); err == nil && v3.Conversation != nil {
		c := v3.Conversation
		rec = Record{ConversationID: c.ExternalID, BotID: c.BotID, UserID: c.UserID, Language: c.Language, Platform: c.Platform}
		if rec.ConversationID == "" {
			rec.ConversationID = c.ID
		}
		for _, m := range v3.Messages {
			b := m.Bubbles
			if len(b) == 0 {
				b = []string{m.Text}
			}
			rec.Messages = append(rec.Messages, V1Message{Bot: m.FromBot, Content: b, At: m.CreatedAt})
		}
	} else if err := json.Unmarshal(line, &rec); err != nil {
		return 0, parley.Errorf(parley.EINVALID, "not a V1 body or an exported conversation: %v", err)
	}
	if err := parley.FirstError(parley.ValidID(rec.ConversationID, "conversation_id"), parley.ValidID(rec.BotID, "bot_id"),
		parley.ValidID(rec.UserID, "user_id")); err != nil {
		return 0, err
	}
	items := make([]parley.HistoryItem, 0, len(rec.Messages)+1)
	for i, m := range rec.Messages {
		if len(m.Content) == 0 || len(m.Content) > parley.MaxBubbles || strings.TrimSpace(strings.Join(m.Content, "")) == "" {
			return 0, parley.FieldError(parley.EINVALID, fmt.Sprintf("messages[%d].content", i), "1 to %d bubbles with text", parley.MaxBubbles)
		}
		items = append(items, parley.HistoryItem{FromBot: m.Bot, Bubbles: m.Content})
	}
	if strings.TrimSpace(rec.Message) != "" {
		items = append(items, parley.HistoryItem{Bubbles: []string{rec.Message}})
	}
	if _, err := st.GetBot(ctx, tenantID, rec.BotID); err != nil {
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return 0, parley.FieldError(parley.ENOTFOUND, "bot_id", "bot %q does not exist: create it first (parley bot create --id %s)", rec.BotID, rec.BotID)
		}
		return 0, err
	}
	// Read before writing: a record whose history disagrees with what is
	// stored imports nothing.
	conv, stored, err := existing(ctx, st, tenantID, rec)
	if err != nil {
		return 0, err
	}
	res := Reconcile(items, stored)
	if res.Status == Diverged {
		return 0, parley.FieldError(parley.ECONFLICT, "messages", "%s", res.Detail)
	}
	if len(res.Append) == 0 {
		return 0, nil
	}
	if _, err := st.GetUser(ctx, tenantID, rec.UserID); parley.ErrorCode(err) == parley.ENOTFOUND {
		if _, _, err := st.PutUser(ctx, tenantID, &parley.User{ID: rec.UserID, Platform: rec.Platform, Language: rec.Language,
			KV: parley.MergeKV(nil, rec.UserKVPairs)}); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	} else if rec.UserKVPairs != nil {
		if _, err := st.PatchUser(ctx, tenantID, rec.UserID, parley.UserPatch{KV: rec.UserKVPairs}); err != nil {
			return 0, err
		}
	}
	if conv == nil {
		if conv, _, err = st.GetOrCreateConversation(ctx, tenantID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: rec.BotID, UserID: rec.UserID, ExternalID: rec.ConversationID},
			Platform:        rec.Platform, Language: rec.Language}); err != nil {
			return 0, err
		}
	}
	// What is appended is the end of the record's history: its items keep
	// the dates the record gives them.
	first := len(items) - len(res.Append)
	for i, it := range res.Append {
		nm := parley.NewMessage{FromBot: it.FromBot, Text: strings.Join(it.Bubbles, "\n"), Bubbles: it.Bubbles, NoReply: true}
		if j := first + i; j >= 0 && j < len(rec.Messages) {
			nm.At = rec.Messages[j].At
		}
		if _, err := st.AppendMessage(ctx, tenantID, conv.ID, nm); err != nil {
			return 0, err
		}
	}
	return len(res.Append), nil
}

// existing finds the conversation a record names, if it exists, with its
// stored history.
func existing(ctx context.Context, st Store, tenantID string, rec Record) (*parley.Conversation, []parley.Message, error) {
	convs, err := st.ListConversations(ctx, tenantID, parley.ConversationFilter{BotID: rec.BotID, UserID: rec.UserID, Limit: parley.MaxPageLimit})
	if err != nil {
		return nil, nil, err
	}
	for i, c := range convs {
		if c.ExternalID == rec.ConversationID || c.ID == rec.ConversationID {
			var all []parley.Message
			after := int64(0)
			for {
				page, err := st.ListMessages(ctx, tenantID, c.ID, parley.HistoryQuery{Limit: parley.MaxPageLimit, AfterSeq: after})
				if err != nil {
					return nil, nil, err
				}
				all = append(all, page...)
				if len(page) < parley.MaxPageLimit {
					return &convs[i], all, nil
				}
				after = page[len(page)-1].Seq
			}
		}
	}
	return nil, nil, nil
}

// Export writes every conversation of the tenant (of one bot, if set) as
// JSON lines, in V1's shape (a body without message) or V3's (the
// conversation and its messages).
func Export(ctx context.Context, st Store, tenantID, botID, format string, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	before := ""
	for {
		convs, err := st.ListConversations(ctx, tenantID, parley.ConversationFilter{BotID: botID, Limit: parley.MaxPageLimit, BeforeID: before})
		if err != nil {
			return n, err
		}
		for _, c := range convs {
			var msgs []parley.Message
			after := int64(0)
			for {
				page, err := st.ListMessages(ctx, tenantID, c.ID, parley.HistoryQuery{Limit: parley.MaxPageLimit, AfterSeq: after})
				if err != nil {
					return n, err
				}
				msgs = append(msgs, page...)
				if len(page) < parley.MaxPageLimit {
					break
				}
				after = page[len(page)-1].Seq
			}
			var rec any
			if format == "v1" {
				id := c.ExternalID
				if id == "" {
					id = c.ID
				}
				items := make([]V1Message, 0, len(msgs))
				for _, m := range msgs {
					b := m.Bubbles
					if len(b) == 0 {
						b = []string{m.Text}
					}
					items = append(items, V1Message{Bot: m.FromBot, Content: b, At: m.CreatedAt})
				}
				var kv map[string]any
				if u, err := st.GetUser(ctx, tenantID, c.UserID); err == nil {
					kv = u.KV
				}
				rec = Record{ConversationID: id, BotID: c.BotID, UserID: c.UserID, Messages: items, Language: c.Language,
					Platform: c.Platform, UserKVPairs: kv}
			} else {
				rec = v3Record{Conversation: &c, Messages: msgs}
			}
			if err := enc.Encode(rec); err != nil {
				return n, err
			}
			n++
		}
		if len(convs) < parley.MaxPageLimit {
			return n, nil
		}
		before = convs[len(convs)-1].ID
	}
}
