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
	"strconv"
	"strings"

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
	var out struct {
		Messages []parley.Message `json:"messages"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}, "order": {"desc"}}
	if err := c.do(ctx, http.MethodGet, "/api/conversations/"+url.PathEscape(conversationID)+"/messages?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	for i, j := 0, len(out.Messages)-1; i < j; i, j = i+1, j-1 {
		out.Messages[i], out.Messages[j] = out.Messages[j], out.Messages[i]
	}
	return out.Messages, nil
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
