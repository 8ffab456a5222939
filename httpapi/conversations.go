package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/reply"
)

type conversationBody struct {
	Conversation *parley.Conversation `json:"conversation"`
}

type createConversationInput struct {
	Body struct {
		BotID                 string `json:"bot_id" minLength:"1" maxLength:"128" doc:"the bot's id, e.g. bot-456"`
		UserID                string `json:"user_id" minLength:"1" maxLength:"128" doc:"the user's external id, e.g. user-789"`
		CreateUserIfNotExists bool   `json:"create_user_if_not_exists,omitempty" doc:"create the user when unknown instead of answering 404"`
		Webhook               string `json:"webhook,omitempty" maxLength:"2048" doc:"where this conversation's bot replies are delivered; defaults to the bot's webhook"`
		Platform              string `json:"platform,omitempty" maxLength:"64"`
		Language              string `json:"language,omitempty" maxLength:"35" doc:"BCP 47 tag; defaults to the user's, then the bot's language"`
	}
}

type createConversationOutput struct {
	Status int
	Body   conversationBody
}

type getConversationInput struct {
	ID string `path:"id" maxLength:"64"`
	HistoryParams
}

type HistoryParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"messages per page"`
	Order  string `query:"order" enum:"asc,desc" default:"asc" doc:"asc: oldest first; desc: newest first"`
	Cursor string `query:"cursor" maxLength:"256" doc:"next_cursor or prev_cursor of a previous page"`
}

type HistoryPage struct {
	Messages   []parley.Message `json:"messages"`
	NextCursor string           `json:"next_cursor" doc:"the following page; empty on the last page"`
	PrevCursor string           `json:"prev_cursor" doc:"the preceding page; empty on the first page"`
}

type getConversationOutput struct {
	Body struct {
		Conversation *parley.Conversation `json:"conversation"`
		HistoryPage
	}
}

type listMessagesOutput struct {
	Body HistoryPage
}

type attachment struct{ parley.Media }

// Schema lets an attachment be either a library content id (a string) or an
// object with a URL and media type, or a content id.
func (attachment) Schema(r huma.Registry) *huma.Schema {
	return &huma.Schema{OneOf: []*huma.Schema{
		{Type: huma.TypeString, MinLength: ptr(1), MaxLength: ptr(128), Description: "a content id from the bot's library"},
		r.Schema(reflectTypeOfMedia, true, "Media"),
	}}
}

func (a *attachment) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		a.Media = parley.Media{ContentID: id}
		return nil
	}
	return json.Unmarshal(b, &a.Media)
}

type messageInput struct {
	Text          string          `json:"text,omitempty" maxLength:"32000" doc:"the message text; may be empty when media is attached"`
	FromBot       bool            `json:"from_bot,omitempty" doc:"true for a bot-side message (e.g. a human operator); it triggers no reply"`
	AttachedMedia []attachment    `json:"attached_media,omitempty" maxItems:"20" nullable:"true"`
	Bubbles       []string        `json:"bubbles,omitempty" maxItems:"50" doc:"text bubbles as the platform shows them; default: the text as one bubble"`
	Metadata      json.RawMessage `json:"metadata,omitempty" doc:"any JSON object, stored and returned as is"`
}

type appendMessageInput struct {
	ID             string `path:"id" maxLength:"64"`
	Wait           string `query:"wait" maxLength:"16" doc:"wait up to this long (e.g. 30s, at most 60s) for the bot's reply"`
	Prefer         string `header:"Prefer" maxLength:"200" doc:"wait=30 (RFC 7240) does what ?wait=30s does"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"a retry with the same key returns the first answer and stores nothing"`
	Body           struct {
		Message messageInput `json:"message"`
	}
}

type appendMessageOutput struct {
	Replayed bool `header:"Idempotent-Replayed"`
	Status   int
	Body     struct {
		Message *parley.Message `json:"message"`
		// Set when the caller waited.
		Reply       *parley.Message `json:"reply,omitempty" doc:"the bot's reply, when the caller waited and it came"`
		ReplyStatus string          `json:"reply_status,omitempty" enum:"replied,failed,pending" doc:"when the caller waited: pending means the wait ended first"`
		Follow      *follow         `json:"follow,omitempty" doc:"where to follow a reply that is still pending"`
	}
}

type follow struct {
	Events   string `json:"events" doc:"the conversation's event stream (server-sent events)"`
	Messages string `json:"messages" doc:"the messages after this one"`
}

type listConversationsInput struct {
	BotID        string `query:"bot_id" maxLength:"128"`
	UserID       string `query:"user_id" maxLength:"128"`
	Platform     string `query:"platform" maxLength:"64"`
	Language     string `query:"language" maxLength:"35"`
	Q            string `query:"q" maxLength:"500" doc:"full-text search over message text: conversations with a message containing every word"`
	CreatedAfter string `query:"created_after" doc:"RFC 3339 time"`
	UpdatedAfter string `query:"updated_after" doc:"RFC 3339 time"`
	Limit        int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor       string `query:"cursor" maxLength:"256"`
}

type listConversationsOutput struct {
	Body struct {
		Conversations []parley.Conversation `json:"conversations"`
		NextCursor    string                `json:"next_cursor"`
	}
}

func (s *Server) registerConversations() {
	huma.Register(s.api, op("createConversation", http.MethodPost, "/api/conversations",
		"Get or create the conversation of a bot and a user", "conversations"), s.createConversation)
	huma.Register(s.api, op("listConversations", http.MethodGet, "/api/conversations",
		"Search conversations", "conversations"), s.listConversations)
	huma.Register(s.api, op("getConversation", http.MethodGet, "/api/conversations/{id}",
		"A conversation and a page of its history", "conversations"), s.getConversation)
	huma.Register(s.api, op("listMessages", http.MethodGet, "/api/conversations/{id}/messages",
		"A page of a conversation's history", "conversations"), s.listMessages)
	huma.Register(s.api, op("getReplyContext", http.MethodGet, "/api/conversations/{id}/messages/{seq}/context",
		"What the model was sent for a bot reply, with token counts per part; messages sent from the history carry their seq", "conversations"), s.replyContext)
	o := op("appendMessage", http.MethodPost, "/api/conversations/{id}/messages",
		"Append a message; a user message makes the bot reply", "conversations")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, s.appendMessage)
}

func (s *Server) createConversation(ctx context.Context, in *createConversationInput) (*createConversationOutput, error) {
	b := in.Body
	if err := parley.FirstError(check(parley.ValidID(b.BotID, "body.bot_id")), check(parley.ValidID(b.UserID, "body.user_id")),
		check(parley.ValidURL(b.Webhook, "body.webhook"))); err != nil {
		return nil, err
	}
	p := principal(ctx)
	c, created, err := s.store.GetOrCreateConversation(ctx, p.TenantID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: b.BotID, UserID: b.UserID},
		Webhook:         b.Webhook, Platform: b.Platform, Language: b.Language, CreateUser: b.CreateUserIfNotExists})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	// An existing conversation takes the webhook the caller gives now: the
	// integrator's endpoint may have moved since it was created.
	if !created && b.Webhook != "" && b.Webhook != c.Webhook {
		if c, err = s.store.UpdateConversation(ctx, p.TenantID, c.ID, b.Webhook, "", ""); err != nil {
			return nil, s.problem(ctx, err)
		}
	}
	out := &createConversationOutput{Status: http.StatusOK}
	if created {
		out.Status = http.StatusCreated
	}
	out.Body.Conversation = c
	return out, nil
}

func (s *Server) getConversation(ctx context.Context, in *getConversationInput) (*getConversationOutput, error) {
	p := principal(ctx)
	c, err := s.store.GetConversation(ctx, p.TenantID, in.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	page, err := s.history(ctx, p.TenantID, in.ID, in.HistoryParams)
	if err != nil {
		return nil, err
	}
	out := &getConversationOutput{}
	out.Body.Conversation, out.Body.HistoryPage = c, *page
	return out, nil
}

func (s *Server) listMessages(ctx context.Context, in *getConversationInput) (*listMessagesOutput, error) {
	page, err := s.history(ctx, principal(ctx).TenantID, in.ID, in.HistoryParams)
	if err != nil {
		return nil, err
	}
	return &listMessagesOutput{Body: *page}, nil
}

// history reads one page of messages. A cursor pages forward (after a
// sequence number) or backward (before one) in the order the client asked
// for; a page read against that order is reversed before it is returned.
func (s *Server) history(ctx context.Context, tenantID, id string, hp HistoryParams) (*HistoryPage, error) {
	cur := historyCursor{Order: hp.Order}
	if err := decodeCursor(hp.Cursor, "cursor", &cur); err != nil {
		return nil, err
	}
	if hp.Cursor != "" && cur.Order != hp.Order {
		return nil, huma.Error400BadRequest("cursor belongs to the other order",
			&huma.ErrorDetail{Message: "pass the same order as the page the cursor came from", Location: "query.order", Value: hp.Order})
	}
	asc := hp.Order != string(parley.Descending)
	q := parley.HistoryQuery{Limit: hp.Limit + 1, AfterSeq: cur.After, BeforeSeq: cur.Before, Order: parley.Ascending}
	// Reading toward the start of the shown order: before in asc, after in desc.
	backward := (asc && cur.Before > 0) || (!asc && cur.After > 0)
	if asc == backward {
		q.Order = parley.Descending
	}
	msgs, err := s.store.ListMessages(ctx, tenantID, id, q)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	more := len(msgs) > hp.Limit
	if more {
		msgs = msgs[:hp.Limit]
	}
	if backward {
		slices.Reverse(msgs)
	}
	page := &HistoryPage{Messages: msgs}
	if len(msgs) == 0 {
		return page, nil
	}
	first, last := msgs[0].Seq, msgs[len(msgs)-1].Seq
	next := historyCursor{Order: hp.Order}
	prev := historyCursor{Order: hp.Order}
	if asc {
		next.After, prev.Before = last, first
	} else {
		next.Before, prev.After = last, first
	}
	// Going forward, "more" is known; backward, a next page exists because
	// the cursor came from one. The same holds the other way round.
	if (!backward && more) || backward {
		page.NextCursor = encodeCursor(next)
	}
	if (backward && more) || (!backward && hp.Cursor != "") {
		page.PrevCursor = encodeCursor(prev)
	}
	return page, nil
}

type replyContextInput struct {
	ID  string `path:"id" maxLength:"64"`
	Seq int64  `path:"seq" minimum:"1"`
}

type replyContextOutput struct {
	Body json.RawMessage
}

func (s *Server) replyContext(ctx context.Context, in *replyContextInput) (*replyContextOutput, error) {
	tenant := principal(ctx).TenantID
	stored, err := s.store.ReplyContext(ctx, tenant, in.ID, in.Seq)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	c, err := reply.ExpandContext(ctx, s.store, tenant, in.ID, stored)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &replyContextOutput{Body: c}, nil
}

func (s *Server) appendMessage(ctx context.Context, in *appendMessageInput) (*appendMessageOutput, error) {
	nm, err := newMessage(in.Body.Message)
	if err != nil {
		return nil, err
	}
	if in.IdempotencyKey != "" {
		nm.IdempotencyKey = in.IdempotencyKey
		nm.RequestHash = requestHash(in.Body.Message)
	}
	wait, err := waitFor(in.Wait, in.Prefer)
	if err != nil {
		return nil, err
	}
	var signals <-chan live.Signal
	if wait > 0 && !nm.FromBot {
		release, err := s.holdStream(principal(ctx))
		if err != nil {
			return nil, err
		}
		defer release()
		var cancel func()
		signals, cancel = s.hub.Subscribe(in.ID) // before the append: no news can be missed
		defer cancel()
	}
	tenantID := principal(ctx).TenantID
	res, err := s.store.AppendMessage(ctx, tenantID, in.ID, nm)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &appendMessageOutput{Status: http.StatusCreated, Replayed: res.Replayed}
	out.Body.Message = res.Message
	if signals != nil {
		o, err := s.awaitReply(ctx, tenantID, in.ID, res.Message.Seq, !res.Replayed, signals, wait)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out.Body.Reply, out.Body.ReplyStatus = o.reply, o.status
		if o.status == "pending" {
			out.Body.Follow = &follow{Events: "/api/conversations/" + in.ID + "/events",
				Messages: "/api/conversations/" + in.ID + "/messages?cursor=" +
					encodeCursor(historyCursor{Order: string(parley.Ascending), After: res.Message.Seq})}
		}
	}
	return out, nil
}

// newMessage is the message of a request, completed and checked by the
// domain's rules (parley.NewMessage.Complete).
func newMessage(m messageInput) (parley.NewMessage, error) {
	nm := parley.NewMessage{FromBot: m.FromBot, Text: m.Text, Bubbles: m.Bubbles, Metadata: m.Metadata}
	for _, a := range m.AttachedMedia {
		nm.AttachedMedia = append(nm.AttachedMedia, a.Media)
	}
	return nm, check(nm.Complete("body.message"))
}

// requestHash identifies a request's content, so that a key reused for a
// different message is told apart from a retry.
func requestHash(m messageInput) string {
	b, _ := json.Marshal(m) // a decoded request always encodes again
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (s *Server) listConversations(ctx context.Context, in *listConversationsInput) (*listConversationsOutput, error) {
	f := parley.ConversationFilter{BotID: in.BotID, UserID: in.UserID, Platform: in.Platform, Language: in.Language,
		Query: in.Q, Limit: in.Limit + 1}
	var err error
	if f.CreatedAfter, err = parseTime(in.CreatedAfter, "query.created_after"); err != nil {
		return nil, err
	}
	if f.UpdatedAfter, err = parseTime(in.UpdatedAfter, "query.updated_after"); err != nil {
		return nil, err
	}
	var cur listCursor
	if err := decodeCursor(in.Cursor, "cursor", &cur); err != nil {
		return nil, err
	}
	f.BeforeID = cur.ID
	convs, err := s.store.ListConversations(ctx, principal(ctx).TenantID, f)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &listConversationsOutput{}
	if len(convs) > in.Limit {
		convs = convs[:in.Limit]
		out.Body.NextCursor = encodeCursor(listCursor{ID: convs[len(convs)-1].ID})
	}
	if convs == nil {
		convs = []parley.Conversation{}
	}
	out.Body.Conversations = convs
	return out, nil
}

func parseTime(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, huma.Error422UnprocessableEntity("invalid time",
			&huma.ErrorDetail{Message: "expected an RFC 3339 time such as 2026-01-02T15:04:05Z", Location: field, Value: s})
	}
	return t.UTC(), nil
}

func fieldProblem(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return huma.Error422UnprocessableEntity(msg, &huma.ErrorDetail{Message: msg, Location: field})
}

func ptr[T any](v T) *T { return &v }
