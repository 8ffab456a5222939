// Package client is a Go client of Parley's HTTP API, with the domain's
// types: what `parley chat` speaks, and what Go integrations can use
// instead of building requests by hand.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley"
)

// Client calls one server with one token.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client // nil: http.DefaultClient
}

// Error is an error answer of the API (RFC 9457 problem JSON).
type Error struct {
	Status   int
	Detail   string
	Location string // the request field at fault, e.g. body.message.text
}

func (e *Error) Error() string {
	if e.Location != "" {
		return fmt.Sprintf("parley: %d: %s (%s)", e.Status, e.Detail, e.Location)
	}
	return fmt.Sprintf("parley: %d: %s", e.Status, e.Detail)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends a request with a JSON body (nil: none) and decodes a JSON
// answer into out (nil: ignored).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: encode: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, r)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return problem(res)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decode %s %s: %w", method, path, err)
	}
	return nil
}

func problem(res *http.Response) error {
	var p struct {
		Title, Detail string
		Errors        []struct{ Location string }
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&p)
	e := &Error{Status: res.StatusCode, Detail: p.Detail}
	if e.Detail == "" {
		e.Detail = p.Title
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(res.StatusCode)
	}
	if len(p.Errors) > 0 {
		e.Location = p.Errors[0].Location
	}
	return e
}

// Ready returns nil when the server answers /readyz with 200: it is up
// and its database answers.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil)
}

// WaitReady calls Ready every interval until it succeeds or ctx ends; it
// returns the last error then.
func (c *Client) WaitReady(ctx context.Context, every time.Duration) error {
	for {
		err := c.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("client: not ready: %w", err)
		case <-time.After(every):
		}
	}
}

// Bot is a bot as written: empty fields are not sent (the server's
// defaults apply).
type Bot struct {
	ID       string                `json:"id,omitempty"`
	Name     string                `json:"name,omitempty"`
	Persona  string                `json:"persona,omitempty"`
	Language string                `json:"language,omitempty"`
	Webhook  string                `json:"webhook,omitempty"`
	Model    *parley.ModelSettings `json:"model,omitempty"`
	Reply    *parley.ReplySettings `json:"reply,omitempty"`
}

// CreateBot creates a bot (an admin token's call).
func (c *Client) CreateBot(ctx context.Context, b Bot) (*parley.Bot, error) {
	var out parley.Bot
	if err := c.do(ctx, http.MethodPost, "/api/bots", b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bots returns a page of the tenant's bots after the cursor ("" first),
// and the cursor of the next page ("" on the last).
func (c *Client) Bots(ctx context.Context, cursor string, limit int) ([]parley.Bot, string, error) {
	var out struct {
		Bots       []parley.Bot `json:"bots"`
		NextCursor string       `json:"next_cursor"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	err := c.do(ctx, http.MethodGet, "/api/bots?"+q.Encode(), nil, &out)
	return out.Bots, out.NextCursor, err
}

// ConversationQuery filters GET /api/conversations; zero fields do not.
type ConversationQuery struct {
	BotID, UserID, Platform, Language string
	Q                                 string // full-text: a message with every word
	Limit                             int    // 0: the server's default
	Cursor                            string
}

// Conversations returns a page of conversations, newest first, and the
// cursor of the next page ("" on the last).
func (c *Client) Conversations(ctx context.Context, f ConversationQuery) ([]parley.Conversation, string, error) {
	q := url.Values{}
	for k, v := range map[string]string{"bot_id": f.BotID, "user_id": f.UserID, "platform": f.Platform,
		"language": f.Language, "q": f.Q, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Conversations []parley.Conversation `json:"conversations"`
		NextCursor    string                `json:"next_cursor"`
	}
	err := c.do(ctx, http.MethodGet, "/api/conversations?"+q.Encode(), nil, &out)
	return out.Conversations, out.NextCursor, err
}

// HistoryQuery is one page of a conversation's messages.
type HistoryQuery struct {
	Limit  int    // 0: the server's default (50)
	Desc   bool   // newest first
	Cursor string // a page's NextCursor or PrevCursor
}

// Page is a page of messages and the cursors either side ("" at an end).
type Page struct {
	Messages   []parley.Message `json:"messages"`
	NextCursor string           `json:"next_cursor"`
	PrevCursor string           `json:"prev_cursor"`
}

// Messages returns a page of a conversation's messages.
func (c *Client) Messages(ctx context.Context, conversationID string, h HistoryQuery) (*Page, error) {
	q := url.Values{}
	if h.Limit > 0 {
		q.Set("limit", strconv.Itoa(h.Limit))
	}
	if h.Desc {
		q.Set("order", "desc")
	}
	if h.Cursor != "" {
		q.Set("cursor", h.Cursor)
	}
	var out Page
	if err := c.do(ctx, http.MethodGet, "/api/conversations/"+url.PathEscape(conversationID)+"/messages?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Conversation gets or creates the conversation of a bot and a user
// (creating the user if it does not exist).
func (c *Client) Conversation(ctx context.Context, botID, userID string) (*parley.Conversation, error) {
	var out struct {
		Conversation *parley.Conversation `json:"conversation"`
	}
	err := c.do(ctx, http.MethodPost, "/api/conversations", map[string]any{
		"bot_id": botID, "user_id": userID, "create_user_if_not_exists": true}, &out)
	return out.Conversation, err
}

// Latest returns a conversation's newest limit messages, oldest first.
func (c *Client) Latest(ctx context.Context, conversationID string, limit int) ([]parley.Message, error) {
	p, err := c.Messages(ctx, conversationID, HistoryQuery{Limit: limit, Desc: true})
	if err != nil {
		return nil, err
	}
	slices.Reverse(p.Messages)
	return p.Messages, nil
}

// Send appends a message (a user's, or the bot side's with fromBot).
func (c *Client) Send(ctx context.Context, conversationID, text string, fromBot bool) (*parley.Message, error) {
	var out struct {
		Message *parley.Message `json:"message"`
	}
	err := c.do(ctx, http.MethodPost, "/api/conversations/"+url.PathEscape(conversationID)+"/messages",
		map[string]any{"message": map[string]any{"text": text, "from_bot": fromBot}}, &out)
	return out.Message, err
}

// Sent is a user message stored and, when the caller waited, the reply.
type Sent struct {
	Message     *parley.Message `json:"message"`
	Reply       *parley.Message `json:"reply"`
	ReplyStatus string          `json:"reply_status"` // replied, failed, or pending: the wait ended first
}

// SendAndWait appends a user message and waits up to wait (at most 60 s)
// for the bot's reply.
func (c *Client) SendAndWait(ctx context.Context, conversationID, text string, wait time.Duration) (*Sent, error) {
	var out Sent
	q := url.Values{"wait": {wait.String()}}
	err := c.do(ctx, http.MethodPost, "/api/conversations/"+url.PathEscape(conversationID)+"/messages?"+q.Encode(),
		map[string]any{"message": map[string]any{"text": text}}, &out)
	return &out, err
}

// V1Message is one message of a V1 history: the bot's or the user's
// bubbles.
type V1Message struct {
	Bot     bool     `json:"bot"`
	Content []string `json:"content"`
}

// V1Request is a V1 call: the whole history and the new message.
type V1Request struct {
	ConversationID string         `json:"conversation_id"`
	BotID          string         `json:"bot_id"`
	UserID         string         `json:"user_id"`
	Message        string         `json:"message"`
	Messages       []V1Message    `json:"messages,omitempty"`
	Webhook        string         `json:"webhook,omitempty"`
	Language       string         `json:"language,omitempty"`
	Platform       string         `json:"platform,omitempty"`
	UserKVPairs    map[string]any `json:"user_kv_pairs,omitempty"`
}

// V1Answer is the bot's reply to a V1 call, with the V3 view of it.
type V1Answer struct {
	Bot            bool            `json:"bot"`
	Content        []string        `json:"content"`
	AttachedMedia  []parley.Media  `json:"attached_media"`
	ConversationID string          `json:"conversation_id"`
	MessageID      string          `json:"message_id"`
	ReplyID        string          `json:"reply_message_id"`
	Reply          *parley.Message `json:"reply"`
}

// Complete makes a V1 call (POST /v2/complete) and waits for the reply.
func (c *Client) Complete(ctx context.Context, r V1Request) (*V1Answer, error) {
	var out V1Answer
	if err := c.do(ctx, http.MethodPost, "/v2/complete", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Event is one event of a conversation's stream: a stored event (Message
// set for message.created), or a piece of a reply being written (Delta).
type Event struct {
	ID      int64
	Type    string
	Message *parley.Message // message.created
	Delta   *parley.Delta   // message.delta
	Data    json.RawMessage // the event's data as sent
}

// Events reads a conversation's live events after lastID until ctx ends
// or the stream does, calling fn for each; it returns the last event id
// seen, to resume from.
func (c *Client) Events(ctx context.Context, conversationID string, lastID int64, fn func(Event)) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(c.BaseURL, "/")+"/api/conversations/"+url.PathEscape(conversationID)+"/events", nil)
	if err != nil {
		return lastID, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	res, err := c.http().Do(req)
	if err != nil {
		return lastID, fmt.Errorf("client: events: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return lastID, problem(res)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	ev := Event{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(ev.Data) > 0 {
				decode(&ev)
				fn(ev)
			}
			ev = Event{}
		case strings.HasPrefix(line, "id: "):
			ev.ID, _ = strconv.ParseInt(line[4:], 10, 64)
			lastID = ev.ID
		case strings.HasPrefix(line, "event: "):
			ev.Type = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = append(ev.Data, line[6:]...)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return lastID, fmt.Errorf("client: events: %w", err)
	}
	return lastID, nil
}

// decode fills an event's typed fields from its data.
func decode(ev *Event) {
	switch ev.Type {
	case "message.delta":
		var d parley.Delta
		if json.Unmarshal(ev.Data, &d) == nil {
			ev.Delta = &d
		}
	case parley.EventMessageCreated:
		var stored struct {
			Data parley.Message `json:"data"`
		}
		if json.Unmarshal(ev.Data, &stored) == nil {
			ev.Message = &stored.Data
		}
	}
}
