package parley

import (
	"context"
	"fmt"
	"time"
)

// Audit actions: what is recorded of operations on people's data.
const (
	AuditUserExport = "user.export"
	AuditUserErase  = "user.erase"
)

// AuditEntry records who did what to whose data, and how much of it.
type AuditEntry struct {
	ID        string           `json:"id"`
	Action    string           `json:"action" enum:"user.export,user.erase,bot.retention"`
	Subject   string           `json:"subject" doc:"the user, or the bot whose retention deleted conversations"`
	TokenID   string           `json:"token_id" doc:"the token that did it (empty: the retention job)"`
	Counts    map[string]int64 `json:"counts" doc:"conversations, messages, memories, media"`
	CreatedAt time.Time        `json:"created_at"`
}

// UserExport is everything Parley holds of one user, for them to take.
type UserExport struct {
	User          *User                `json:"user"`
	Conversations []ConversationExport `json:"conversations"`
	Memories      []Memory             `json:"memories"`
	ExportedAt    time.Time            `json:"exported_at"`
}

// ConversationExport is one conversation of a user's export.
type ConversationExport struct {
	Conversation Conversation `json:"conversation"`
	Messages     []Message    `json:"messages"`
}

// Counts are the export's sizes, as its audit records them.
func (e *UserExport) Counts() map[string]int64 {
	c := map[string]int64{"conversations": int64(len(e.Conversations)), "memories": int64(len(e.Memories))}
	for _, conv := range e.Conversations {
		c["messages"] += int64(len(conv.Messages))
		for _, m := range conv.Messages {
			c["media"] += int64(len(m.AttachedMedia))
		}
	}
	return c
}

// UserData is what reading a user's data needs from a store.
type UserData interface {
	GetUser(ctx context.Context, tenantID, id string) (*User, error)
	ListConversations(ctx context.Context, tenantID string, f ConversationFilter) ([]Conversation, error)
	ListMessages(ctx context.Context, tenantID, conversationID string, q HistoryQuery) ([]Message, error)
	ListMemories(ctx context.Context, tenantID string, f MemoryFilter) ([]Memory, error)
}

// exportPage is how many rows one read of an export takes.
const exportPage = 500

// ExportUser reads everything of a user: the user, every conversation
// with every message (media as the messages hold them: URLs, what their
// fetch kept, library items), and their memories of every bot:
// ENOTFOUND.
func ExportUser(ctx context.Context, st UserData, tenantID, userID string) (*UserExport, error) {
	u, err := st.GetUser(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	out := &UserExport{User: u, Conversations: []ConversationExport{}, Memories: []Memory{}, ExportedAt: Now()}
	err = eachConversation(ctx, st, tenantID, userID, func(c Conversation) error {
		ce := ConversationExport{Conversation: c, Messages: []Message{}}
		for q := (HistoryQuery{Limit: exportPage}); ; {
			msgs, err := st.ListMessages(ctx, tenantID, c.ID, q)
			if err != nil {
				return err
			}
			ce.Messages = append(ce.Messages, msgs...)
			if len(msgs) < q.Limit {
				break
			}
			q.AfterSeq = msgs[len(msgs)-1].Seq
		}
		out.Conversations = append(out.Conversations, ce)
		return nil
	})
	if err == nil {
		out.Memories, err = allMemories(ctx, st, tenantID, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("export user: %w", err)
	}
	return out, nil
}

// eachConversation calls fn with each of a user's conversations, a page
// at a time.
func eachConversation(ctx context.Context, st UserData, tenantID, userID string, fn func(Conversation) error) error {
	for f := (ConversationFilter{UserID: userID, Limit: exportPage}); ; {
		convs, err := st.ListConversations(ctx, tenantID, f)
		if err != nil {
			return err
		}
		for _, c := range convs {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(convs) < f.Limit {
			return nil
		}
		f.BeforeID = convs[len(convs)-1].ID
	}
}

// allMemories reads a user's memories of every bot.
func allMemories(ctx context.Context, st UserData, tenantID, userID string) ([]Memory, error) {
	out := []Memory{}
	for f := (MemoryFilter{UserID: userID, Limit: exportPage}); ; {
		ms, err := st.ListMemories(ctx, tenantID, f)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if len(ms) < f.Limit {
			return out, nil
		}
		f.BeforeID = ms[len(ms)-1].ID
	}
}

// UserCounts is how much a user has: conversations and their messages
// (as the conversations count them) and memories: what erasing them
// takes away, for its audit.
func UserCounts(ctx context.Context, st UserData, tenantID, userID string) (map[string]int64, error) {
	c := map[string]int64{"conversations": 0, "messages": 0, "memories": 0}
	err := eachConversation(ctx, st, tenantID, userID, func(conv Conversation) error {
		c["conversations"]++
		c["messages"] += conv.MessageCount
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("user counts: %w", err)
	}
	ms, err := allMemories(ctx, st, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("user counts: %w", err)
	}
	c["memories"] = int64(len(ms))
	return c, nil
}

// AuditRetention records conversations a bot's retention deleted.
const AuditRetention = "bot.retention"

// MaxRetentionDays bounds a bot's retention (ten years).
const MaxRetentionDays = 3650

// Retention is how long a bot keeps idle conversations: one whose last
// message is older than Days days is deleted with its messages and media
// by the retention job (RetentionJob), hourly.
type Retention struct {
	BotID string `json:"bot_id"`
	Days  int    `json:"days" minimum:"1" maximum:"3650" doc:"conversations idle longer than this are deleted"`
}

// Expired is what the retention job deleted of one bot.
type Expired struct {
	TenantID      string
	BotID         string
	Conversations int64
	Messages      int64
	MediaSHA256   []string // the bytes the deleted messages' media kept
}

// RetentionJob deletes the conversations that bots' retention says are
// too old (a periodic job).
type RetentionJob struct{}

// Kind is the River job kind.
func (RetentionJob) Kind() string { return "retention" }
