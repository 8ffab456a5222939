package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/parley-chat/parley"
)

// Limits of a V1 call beyond parley's own.
const (
	MaxHistory = 1000 // history items of one call
	// MaxPlatformLen and MaxLanguageLen bound the V1 body's platform and
	// language.
	MaxPlatformLen = 64
	MaxLanguageLen = 35
)

// replyLookahead is how many messages a retried call reads past its user
// message to find the reply without a second read.
const replyLookahead = 20

// Turn is one V1 call: the whole history a client sent and its new message.
// Empty Webhook, Language and Platform leave the stored ones as they are.
type Turn struct {
	ConversationID string // the client's id, or a V3 conversation id
	BotID, UserID  string
	Message        string // the user's new message
	History        []parley.HistoryItem
	Webhook        string
	Language       string
	Platform       string
	UserKV         map[string]any // merged into the user's key-value context
	// IdempotencyKey, when the client sends one; else the turn's content
	// is its key (Key).
	IdempotencyKey string
}

// Validate checks a turn against the documented limits. Fields are named
// as the V1 body names them (body.user_kv_pairs, body.messages[3].content).
func (t *Turn) Validate() error {
	for _, f := range []struct {
		field, value string
		min, max     int
	}{
		{"body.conversation_id", t.ConversationID, 1, parley.MaxIDLen},
		{"body.bot_id", t.BotID, 1, parley.MaxIDLen},
		{"body.user_id", t.UserID, 1, parley.MaxIDLen},
		{"body.message", t.Message, 1, parley.MaxTextLen},
		{"body.webhook", t.Webhook, 0, parley.MaxURLLen},
		{"body.language", t.Language, 0, MaxLanguageLen},
		{"body.platform", t.Platform, 0, MaxPlatformLen},
	} {
		if n := utf8.RuneCountInString(f.value); n < f.min || n > f.max {
			if n == 0 {
				return parley.FieldError(parley.EINVALID, f.field, "%s is required", strings.TrimPrefix(f.field, "body."))
			}
			return parley.FieldError(parley.EINVALID, f.field, "expected between %d and %d characters, got %d", f.min, f.max, n)
		}
	}
	if strings.TrimSpace(t.Message) == "" {
		return parley.FieldError(parley.EINVALID, "body.message", "the message is empty")
	}
	if len(t.History) > MaxHistory {
		return parley.FieldError(parley.EINVALID, "body.messages", "at most %d history items, got %d", MaxHistory, len(t.History))
	}
	for i, it := range t.History {
		field := fmt.Sprintf("body.messages[%d].content", i)
		if len(it.Bubbles) > parley.MaxBubbles {
			return parley.FieldError(parley.EINVALID, field, "at most %d bubbles, got %d", parley.MaxBubbles, len(it.Bubbles))
		}
		if len(strings.TrimSpace(strings.Join(it.Bubbles, ""))) == 0 {
			return parley.FieldError(parley.EINVALID, field, "a history item needs text")
		}
	}
	return parley.FirstError(parley.ValidText(t.Message, "body.message"), parley.ValidID(t.ConversationID, "body.conversation_id"), parley.ValidID(t.BotID, "body.bot_id"),
		parley.ValidID(t.UserID, "body.user_id"), parley.ValidURL(t.Webhook, "body.webhook"),
		parley.ValidKV(t.UserKV, "body.user_kv_pairs"))
}

// Key is the turn's idempotency key: the client's, else one made of its
// content, so that the same call retried gets the same key and the next
// turn (a longer history) another.
func (t *Turn) Key() string {
	if t.IdempotencyKey != "" {
		return t.IdempotencyKey
	}
	type item struct {
		Bot     bool     `json:"bot"`
		Content []string `json:"content"`
	}
	var history []item // null when the client sent none, as the key always was
	if t.History != nil {
		history = make([]item, len(t.History))
	}
	for i, it := range t.History {
		history[i] = item{Bot: it.FromBot, Content: it.Bubbles}
	}
	h := sha256.New()
	_ = json.NewEncoder(h).Encode([]any{t.ConversationID, t.BotID, t.UserID, t.Message, history}) // cannot fail
	return "v1:" + hex.EncodeToString(h.Sum(nil))
}

// Conversation finds or makes the turn's conversation, with its user.
// Everything that can refuse the turn is checked before anything is
// written: a refused turn (an unknown bot, a V3 conversation of another
// bot or user) changes nothing.
func Conversation(ctx context.Context, st Store, tenantID string, t *Turn) (*parley.Conversation, error) {
	if _, err := st.GetBot(ctx, tenantID, t.BotID); err != nil {
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil, parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", t.BotID)
		}
		return nil, err
	}
	var v3 *parley.Conversation
	if uuid.Validate(t.ConversationID) == nil { // only a UUID can be a V3 conversation id
		c, err := st.GetConversation(ctx, tenantID, t.ConversationID)
		switch {
		case err == nil:
			if c.BotID != t.BotID || c.UserID != t.UserID {
				return nil, parley.FieldError(parley.EINVALID, "body.conversation_id", "conversation %q is of bot %q and user %q",
					t.ConversationID, c.BotID, c.UserID)
			}
			v3 = c
		case parley.ErrorCode(err) != parley.ENOTFOUND:
			return nil, err
		}
	}
	if err := ensureUser(ctx, st, tenantID, t); err != nil {
		return nil, err
	}
	if v3 != nil {
		if convChanges(v3, t.Webhook, t.Platform, t.Language) {
			return st.UpdateConversation(ctx, tenantID, v3.ID, t.Webhook, t.Platform, t.Language)
		}
		return v3, nil
	}
	c, created, err := st.GetOrCreateConversation(ctx, tenantID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: t.BotID, UserID: t.UserID, ExternalID: t.ConversationID},
		Webhook:         t.Webhook, Platform: t.Platform, Language: t.Language})
	if err != nil {
		return nil, err
	}
	if !created && convChanges(c, t.Webhook, t.Platform, t.Language) {
		return st.UpdateConversation(ctx, tenantID, c.ID, t.Webhook, t.Platform, t.Language)
	}
	return c, nil
}

// ensureUser creates the turn's user when new; its platform, language and
// key-value pairs update it. Most calls change nothing about the user:
// read, and write only a change.
func ensureUser(ctx context.Context, st Store, tenantID string, t *Turn) error {
	patch := parley.UserPatch{KV: t.UserKV}
	if t.Language != "" {
		patch.Language = &t.Language
	}
	if t.Platform != "" {
		patch.Platform = &t.Platform
	}
	u, err := st.GetUser(ctx, tenantID, t.UserID)
	switch {
	case parley.ErrorCode(err) == parley.ENOTFOUND:
		u := &parley.User{ID: t.UserID, Platform: t.Platform, Language: t.Language, KV: parley.MergeKV(nil, t.UserKV)}
		_, _, err := st.PutUser(ctx, tenantID, u)
		return err
	case err != nil:
		return err
	case changes(u, patch):
		_, err := st.PatchUser(ctx, tenantID, t.UserID, patch)
		return err
	}
	return nil
}

// Sent is what Send did.
type Sent struct {
	History Result          // how the client's history compared with the stored one
	Message *parley.Message // the turn's user message
	// Following are the stored messages after Message when the turn was a
	// retry of a call already stored (its reply is mostly among them).
	Following []parley.Message
}

// Send stores the turn in its conversation: the history the stored one
// lacks, as history, then the user message, whose reply is queued (with
// the client's history as its context when the two diverged). A retried
// call stores nothing and returns the stored message.
func Send(ctx context.Context, st Store, tenantID string, conv *parley.Conversation, t *Turn) (Sent, error) {
	result, retried, err := reconcile(ctx, st, tenantID, conv.ID, t.History, t.Message)
	if err != nil {
		return Sent{}, err
	}
	if len(retried) > 0 {
		return Sent{History: result, Message: &retried[0], Following: retried[1:]}, nil
	}
	for _, it := range result.Append {
		if _, err := st.AppendMessage(ctx, tenantID, conv.ID, parley.NewMessage{FromBot: it.FromBot,
			Text: strings.Join(it.Bubbles, "\n"), Bubbles: it.Bubbles, NoReply: true}); err != nil {
			return Sent{}, err
		}
	}
	key := t.Key()
	nm := parley.NewMessage{Text: t.Message, Bubbles: []string{t.Message}, IdempotencyKey: key, RequestHash: key}
	if result.Status == Diverged {
		nm.ReplyHistory = t.History
	}
	res, err := st.AppendMessage(ctx, tenantID, conv.ID, nm)
	if err != nil {
		return Sent{}, err
	}
	return Sent{History: result, Message: res.Message}, nil
}

// reconcile compares the client's history with the stored one. When the
// call is a retry (the message after the client's history is this user
// message), it returns that message and some of those after it. The
// digests of both histories decide without reading the stored one, unless
// they disagree or the stored one has none: then it is read to say where
// they part.
func reconcile(ctx context.Context, st Store, tenantID, convID string, items []parley.HistoryItem, text string) (Result, []parley.Message, error) {
	n := int64(len(items))
	stored, digest, err := st.HistoryDigest(ctx, tenantID, convID, n)
	if err != nil {
		return Result{}, nil, err
	}
	client := Digests(items)
	if digest != nil && bytes.Equal(digest, client[min(n, stored)]) {
		switch {
		case stored == n:
			return Result{Status: InSync}, nil, nil
		case stored < n:
			rest := items[stored:]
			return Result{Status: Appended, Append: rest, Appended: len(rest)}, nil, nil
		}
		// The client's history is a prefix of the stored one: a retry if
		// this user message comes next. The page goes on past that message,
		// so that the reply, when it is there, comes with the same read.
		next, err := st.ListMessages(ctx, tenantID, convID, parley.HistoryQuery{Limit: replyLookahead, AfterSeq: n})
		if err != nil {
			return Result{}, nil, err
		}
		if len(next) > 0 && !next[0].FromBot && sameText(next[0], text) {
			return Result{Status: InSync}, next, nil
		}
		return Shorter(len(items), int(stored)), nil, nil
	}
	all, err := allMessages(ctx, st, tenantID, convID)
	if err != nil {
		return Result{}, nil, err
	}
	if k := len(items); k < len(all) && !all[k].FromBot && sameText(all[k], text) {
		if r := Reconcile(items, all[:k]); r.Status == InSync {
			return r, all[k:], nil
		}
	}
	return Reconcile(items, all), nil, nil
}

// convChanges tells whether a call's webhook, platform or language (each
// empty when not given) would change the conversation: most calls repeat
// them, and must not cost a write.
func convChanges(c *parley.Conversation, webhook, platform, language string) bool {
	return webhook != "" && webhook != c.Webhook || platform != "" && platform != c.Platform ||
		language != "" && language != c.Language
}

// allMessages reads a conversation's whole history (bounded).
func allMessages(ctx context.Context, st Store, tenantID, id string) ([]parley.Message, error) {
	var out []parley.Message
	after := int64(0)
	for len(out) <= MaxHistory*2 {
		page, err := st.ListMessages(ctx, tenantID, id, parley.HistoryQuery{Limit: parley.MaxPageLimit, AfterSeq: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < parley.MaxPageLimit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
	return nil, parley.Errorf(parley.ETOOLARGE, "the conversation has more than %d messages: continue it with V3 calls", MaxHistory*2)
}

func sameText(m parley.Message, text string) bool {
	return strings.TrimSpace(m.Text) == strings.TrimSpace(text)
}

// changes tells whether applying p would change u.
func changes(u *parley.User, p parley.UserPatch) bool {
	after := *u
	if err := p.Apply(&after); err != nil {
		return true // let the store report it
	}
	if after.Platform != u.Platform || after.Language != u.Language || len(after.KV) != len(u.KV) {
		return true
	}
	a, _ := json.Marshal(after.KV) // maps of JSON values: encoding cannot fail, and sorts keys
	b, _ := json.Marshal(u.KV)
	return string(a) != string(b)
}
