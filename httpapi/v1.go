package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/compat"
)

// v1Wait is how long /v2/complete waits for the reply: V1 is synchronous.
const v1Wait = 55 * time.Second

// v1MaxHistory bounds the history a V1 call may send, v1MaxBubbles the
// bubbles of one history item.
const (
	v1MaxHistory = 1000
	v1MaxBubbles = 50
)

// replyLookahead is how many messages a retried V1 call reads past its
// user message to find the reply without a second read.
const replyLookahead = 20

type v1Message struct {
	_       struct{} `json:"-" additionalProperties:"true"` // fields V1 does not know are ignored
	Bot     bool     `json:"bot" doc:"true for the bot's messages"`
	Content []string `json:"content" maxItems:"50" doc:"text bubbles"`
}

type v1Input struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"optional: retries of a V1 call are recognised without it"`
	Body           struct {
		_              struct{}       `json:"-" additionalProperties:"true"` // fields V1 does not know are ignored
		ConversationID string         `json:"conversation_id" minLength:"1" maxLength:"128" doc:"the client's conversation id (or a V3 conversation id)"`
		BotID          string         `json:"bot_id" minLength:"1" maxLength:"128"`
		UserID         string         `json:"user_id" minLength:"1" maxLength:"128"`
		Message        string         `json:"message" minLength:"1" maxLength:"32000" doc:"the user's new message"`
		Messages       []v1Message    `json:"messages,omitempty" maxItems:"1000" doc:"the history before message"`
		Webhook        string         `json:"webhook,omitempty" maxLength:"2048"`
		Language       string         `json:"language,omitempty" maxLength:"35"`
		Platform       string         `json:"platform,omitempty" maxLength:"64"`
		UserKVPairs    map[string]any `json:"user_kv_pairs,omitempty" doc:"merged into the user's key-value context: keys given replace stored ones, null removes a key, others stay"`
	}
}

type v1Output struct {
	Body struct {
		Bot     bool     `json:"bot"`
		Content []string `json:"content"`
		// The V3 view of the same exchange, for the move to V3.
		ConversationID string          `json:"conversation_id" doc:"the V3 conversation id"`
		MessageID      string          `json:"message_id" doc:"the V3 id of the user's message"`
		ReplyID        string          `json:"reply_message_id" doc:"the V3 id of the reply"`
		History        compat.Result   `json:"history" doc:"how the history sent compared with the stored one"`
		Reply          *parley.Message `json:"reply" doc:"the reply as a V3 message"`
	}
}

func (s *Server) registerV1() {
	o := op("complete", http.MethodPost, "/v2/complete",
		"V1: send the whole history and the new message, get the bot's reply (compatibility layer over V3)", "v1")
	o.MaxBodyBytes = 4 << 20 // V1 sends whole histories
	// V1 bodies carry whole histories, and huma validates a body by decoding
	// it a second time into generic maps: half of a V1 call's cost. The
	// body is decoded once into its struct and checked by validate, which
	// enforces the limits the schema documents (a type error is the
	// decoder's, naming the field).
	o.SkipValidateBody = true
	huma.Register(s.api, o, s.complete)
}

// validate checks a V1 body against the limits its schema documents.
func (in *v1Input) validate() error {
	b := &in.Body
	for _, f := range []struct {
		field, value string
		min, max     int
	}{
		{"body.conversation_id", b.ConversationID, 1, 128},
		{"body.bot_id", b.BotID, 1, 128},
		{"body.user_id", b.UserID, 1, 128},
		{"body.message", b.Message, 1, 32000},
		{"body.webhook", b.Webhook, 0, 2048},
		{"body.language", b.Language, 0, 35},
		{"body.platform", b.Platform, 0, 64},
	} {
		if n := utf8.RuneCountInString(f.value); n < f.min || n > f.max {
			if n == 0 {
				return fieldProblem(f.field, "%s is required", strings.TrimPrefix(f.field, "body."))
			}
			return fieldProblem(f.field, "expected between %d and %d characters, got %d", f.min, f.max, n)
		}
	}
	if len(b.Messages) > v1MaxHistory {
		return fieldProblem("body.messages", "at most %d history items, got %d", v1MaxHistory, len(b.Messages))
	}
	for i, m := range b.Messages {
		if len(m.Content) > v1MaxBubbles {
			return fieldProblem("body.messages["+itoa(i)+"].content", "at most %d bubbles, got %d", v1MaxBubbles, len(m.Content))
		}
		if len(strings.TrimSpace(strings.Join(m.Content, ""))) == 0 {
			return fieldProblem("body.messages["+itoa(i)+"].content", "a history item needs text")
		}
	}
	return firstError(validID(b.ConversationID, "body.conversation_id"), validID(b.BotID, "body.bot_id"),
		validID(b.UserID, "body.user_id"), validURL(b.Webhook, "body.webhook"), validKV(b.UserKVPairs))
}

func (s *Server) complete(ctx context.Context, in *v1Input) (*v1Output, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	b := in.Body
	if strings.TrimSpace(b.Message) == "" {
		return nil, fieldProblem("body.message", "the message is empty")
	}
	items := make([]parley.HistoryItem, len(b.Messages))
	for i, m := range b.Messages {
		items[i] = parley.HistoryItem{FromBot: m.Bot, Bubbles: m.Content}
	}
	tenantID := principal(ctx).TenantID
	// The key of this turn: the same call retried gets the same key, the
	// next turn (a longer history) another.
	key := in.IdempotencyKey
	if key == "" {
		h := sha256.New()
		json.NewEncoder(h).Encode([]any{b.ConversationID, b.BotID, b.UserID, b.Message, b.Messages})
		key = "v1:" + hex.EncodeToString(h.Sum(nil))
	}

	// User: created when new; platform, language and key-value pairs update it.
	var lang, platform *string
	if b.Language != "" {
		lang = &b.Language
	}
	if b.Platform != "" {
		platform = &b.Platform
	}
	// Most calls change nothing about the user: read, and write only a change.
	patch := parley.UserPatch{Platform: platform, Language: lang, KV: b.UserKVPairs}
	switch u, err := s.store.GetUser(ctx, tenantID, b.UserID); {
	case parley.ErrorCode(err) == parley.ENOTFOUND:
		u := &parley.User{ID: b.UserID, Platform: b.Platform, Language: b.Language, KV: parley.MergeKV(nil, b.UserKVPairs)}
		if _, _, err := s.store.PutUser(ctx, tenantID, u); err != nil {
			return nil, s.problem(ctx, err)
		}
	case err != nil:
		return nil, s.problem(ctx, err)
	case changes(u, patch):
		if _, err := s.store.PatchUser(ctx, tenantID, b.UserID, patch); err != nil {
			return nil, s.problem(ctx, err)
		}
	}
	conv, err := s.v1Conversation(ctx, tenantID, b.ConversationID, b.BotID, b.UserID, b.Webhook, b.Platform, b.Language)
	if err != nil {
		return nil, err
	}

	signals, cancel := s.hub.Subscribe(conv.ID) // before the append: no news can be missed
	defer cancel()
	result, retried, err := s.reconcile(ctx, tenantID, conv.ID, items, b.Message)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	var userMsg *parley.Message
	var o replyOutcome
	if len(retried) > 0 {
		userMsg = &retried[0]
		o = findReply(retried, userMsg.Seq) // mostly there: a retry comes after the reply
	} else {
		for _, it := range result.Append {
			if _, err := s.store.AppendMessage(ctx, tenantID, conv.ID, parley.NewMessage{FromBot: it.FromBot,
				Text: strings.Join(it.Bubbles, "\n"), Bubbles: it.Bubbles, NoReply: true}); err != nil {
				return nil, s.problem(ctx, err)
			}
		}
		nm := parley.NewMessage{Text: b.Message, Bubbles: []string{b.Message}, IdempotencyKey: key, RequestHash: key}
		if result.Status == compat.Diverged {
			nm.ReplyHistory = items
		}
		res, err := s.store.AppendMessage(ctx, tenantID, conv.ID, nm)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		userMsg = res.Message
	}
	if o.status == "" {
		if o, err = s.awaitReply(ctx, tenantID, conv.ID, userMsg.Seq, signals, v1Wait); err != nil {
			return nil, s.problem(ctx, err)
		}
	}
	switch o.status {
	case "failed":
		return nil, huma.NewError(http.StatusBadGateway, "the bot could not reply (see the conversation's reply.failed event)",
			&huma.ErrorDetail{Location: "conversation_id", Message: "V3 conversation " + conv.ID, Value: conv.ID})
	case "pending":
		return nil, huma.NewError(http.StatusGatewayTimeout, "the reply is not ready; retry the same call to get it",
			&huma.ErrorDetail{Location: "conversation_id", Message: "V3 conversation " + conv.ID, Value: conv.ID})
	}
	out := &v1Output{}
	out.Body.Bot, out.Body.Content = true, o.reply.Bubbles
	out.Body.ConversationID, out.Body.MessageID, out.Body.ReplyID = conv.ID, userMsg.ID, o.reply.ID
	out.Body.History, out.Body.Reply = result, o.reply
	return out, nil
}

// reconcile compares the client's history with the stored one. When the
// call is a retry (the message after the client's history is this user
// message), it returns that message and some of those after it. The
// digests of both histories decide without reading the stored one, unless
// they disagree or the stored one has none: then it is read to say where
// they part.
func (s *Server) reconcile(ctx context.Context, tenantID, convID string, items []parley.HistoryItem, text string) (compat.Result, []parley.Message, error) {
	n := int64(len(items))
	stored, digest, err := s.store.HistoryDigest(ctx, tenantID, convID, n)
	if err != nil {
		return compat.Result{}, nil, err
	}
	client := compat.Digests(items)
	if digest != nil && bytes.Equal(digest, client[min(n, stored)]) {
		switch {
		case stored == n:
			return compat.Result{Status: compat.InSync}, nil, nil
		case stored < n:
			rest := items[stored:]
			return compat.Result{Status: compat.Appended, Append: rest, Appended: len(rest)}, nil, nil
		}
		// The client's history is a prefix of the stored one: a retry if
		// this user message comes next.
		// The page goes on past that message, so that the reply, when it
		// is there, comes with the same read.
		next, err := s.store.ListMessages(ctx, tenantID, convID, parley.HistoryQuery{Limit: replyLookahead, AfterSeq: n})
		if err != nil {
			return compat.Result{}, nil, err
		}
		if len(next) > 0 && !next[0].FromBot && sameText(next[0], text) {
			return compat.Result{Status: compat.InSync}, next, nil
		}
		return compat.Shorter(len(items), int(stored)), nil, nil
	}
	all, err := s.allMessages(ctx, tenantID, convID)
	if err != nil {
		return compat.Result{}, nil, err
	}
	if k := len(items); k < len(all) && !all[k].FromBot && sameText(all[k], text) {
		if r := compat.Reconcile(items, all[:k]); r.Status == compat.InSync {
			return r, all[k:], nil
		}
	}
	return compat.Reconcile(items, all), nil, nil
}

// v1Conversation finds the conversation of a V1 conversation_id: a V3
// conversation id of this tenant and bot is used as is; any other id names
// a conversation of its own (created on first use).
func (s *Server) v1Conversation(ctx context.Context, tenantID, id, botID, userID, webhook, platform, language string) (*parley.Conversation, error) {
	if uuid.Validate(id) == nil { // only a UUID can be a V3 conversation id
		c, err := s.store.GetConversation(ctx, tenantID, id)
		switch {
		case err == nil:
			if c.BotID != botID || c.UserID != userID {
				return nil, fieldProblem("body.conversation_id", "conversation %q is of bot %q and user %q", id, c.BotID, c.UserID)
			}
			if convChanges(c, webhook, platform, language) {
				return s.updateConversation(ctx, tenantID, c.ID, webhook, platform, language)
			}
			return c, nil
		case parley.ErrorCode(err) != parley.ENOTFOUND:
			return nil, s.problem(ctx, err)
		}
	}
	c, created, err := s.store.GetOrCreateConversation(ctx, tenantID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: botID, UserID: userID, ExternalID: id},
		Webhook:         webhook, Platform: platform, Language: language})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	if !created && convChanges(c, webhook, platform, language) {
		return s.updateConversation(ctx, tenantID, c.ID, webhook, platform, language)
	}
	return c, nil
}

// convChanges tells whether a V1 call's webhook, platform or language (each
// empty when not given) would change the conversation: most calls repeat
// them, and must not cost a write.
func convChanges(c *parley.Conversation, webhook, platform, language string) bool {
	return webhook != "" && webhook != c.Webhook || platform != "" && platform != c.Platform ||
		language != "" && language != c.Language
}

func (s *Server) updateConversation(ctx context.Context, tenantID, id, webhook, platform, language string) (*parley.Conversation, error) {
	c, err := s.store.UpdateConversation(ctx, tenantID, id, webhook, platform, language)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return c, nil
}

// allMessages reads a conversation's whole history (bounded).
func (s *Server) allMessages(ctx context.Context, tenantID, id string) ([]parley.Message, error) {
	var out []parley.Message
	after := int64(0)
	for len(out) <= v1MaxHistory*2 {
		page, err := s.store.ListMessages(ctx, tenantID, id, parley.HistoryQuery{Limit: parley.MaxPageLimit, AfterSeq: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < parley.MaxPageLimit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
	return nil, parley.Errorf(parley.ETOOLARGE, "the conversation has more than %d messages: continue it with V3 calls", v1MaxHistory*2)
}

func sameText(m parley.Message, text string) bool {
	return strings.TrimSpace(m.Text) == strings.TrimSpace(text)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
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
