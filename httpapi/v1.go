package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/compat"
)

// v1Wait is how long /v2/complete waits for the reply: V1 is synchronous.
const v1Wait = 55 * time.Second

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
		// AttachedMedia is what the reply sends besides its bubbles
		// (library items: content_id and url).
		AttachedMedia []parley.Media `json:"attached_media"`
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

// turn is the call as the domain's V1 turn.
func (in *v1Input) turn() *compat.Turn {
	b := &in.Body
	t := &compat.Turn{ConversationID: b.ConversationID, BotID: b.BotID, UserID: b.UserID, Message: b.Message,
		Webhook: b.Webhook, Language: b.Language, Platform: b.Platform, UserKV: b.UserKVPairs, IdempotencyKey: in.IdempotencyKey}
	if b.Messages != nil {
		t.History = make([]parley.HistoryItem, len(b.Messages))
	}
	for i, m := range b.Messages {
		t.History[i] = parley.HistoryItem{FromBot: m.Bot, Bubbles: m.Content}
	}
	return t
}

func (s *Server) complete(ctx context.Context, in *v1Input) (*v1Output, error) {
	turn := in.turn()
	if err := turn.Validate(); err != nil {
		return nil, s.problem(ctx, err)
	}
	release, err := s.holdStream(principal(ctx)) // a V1 call waits for its reply
	if err != nil {
		return nil, err
	}
	defer release()
	tenantID := principal(ctx).TenantID
	conv, err := compat.Conversation(ctx, s.store, tenantID, turn)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	signals, cancel := s.hub.Subscribe(conv.ID) // before the append: no news can be missed
	defer cancel()
	sent, err := compat.Send(ctx, s.store, tenantID, conv, turn)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	userMsg := sent.Message
	var o replyOutcome
	if sent.Following != nil {
		o = findReply(append([]parley.Message{*userMsg}, sent.Following...), userMsg.Seq) // mostly there: a retry comes after the reply
	}
	if o.status == "" {
		if o, err = s.awaitReply(ctx, tenantID, conv.ID, userMsg.Seq, false, signals, v1Wait); err != nil {
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
	out.Body.AttachedMedia = append([]parley.Media{}, o.reply.AttachedMedia...)
	out.Body.ConversationID, out.Body.MessageID, out.Body.ReplyID = conv.ID, userMsg.ID, o.reply.ID
	out.Body.History, out.Body.Reply = sent.History, o.reply
	return out, nil
}
