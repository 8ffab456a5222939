// Package llmtest is an OpenAI-compatible chat-completions server for tests:
// a real HTTP server on loopback speaking the wire protocol (JSON, and
// server-sent events when the request streams). It answers from a script
// and records what it was sent.
package llmtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Step is one scripted answer. The zero Step echoes the last user message.
type Step struct {
	Status     int           // non-200: an error answer with this status
	RetryAfter string        // Retry-After header of an error answer
	Text       string        // the reply; empty echoes the last user message
	Delay      time.Duration // before answering (slow endpoints)
	NoStream   bool          // answer streaming requests with 400 (endpoints that cannot stream)
	// ToolCalls are function calls the answer makes (finish_reason
	// tool_calls), with Text as its content (empty: none).
	ToolCalls []ToolCall
}

// ToolCall is a scripted function call.
type ToolCall struct {
	Name      string
	Arguments string // JSON
}

// Request is what the server was sent.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Stream      bool      `json:"stream"`
	Temperature *float64  `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
	// ResponseFormat is the request's response_format, as sent.
	ResponseFormat json.RawMessage `json:"response_format"`
	// Tools is the request's tools, as sent.
	Tools json.RawMessage `json:"tools"`
	// Authorization is the request's Authorization header ("" when none):
	// which key a client sent where.
	Authorization string `json:"-"`
	// Header is every header of the request.
	Header http.Header `json:"-"`
}

// Message is one chat message on the wire. Content given as parts (text
// and images) is read into Content (the texts) and Images (the URLs).
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"-"`
	Images     []string   `json:"-"`
	ToolCallID string     `json:"tool_call_id"`
	ToolCalls  []WireCall `json:"tool_calls"`
}

// WireCall is a tool call as a request carries it.
type WireCall struct {
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// UnmarshalJSON reads content as a string or as parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var aux struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = Message(aux.plain)
	if len(aux.Content) == 0 || string(aux.Content) == "null" {
		return nil
	}
	if aux.Content[0] == '"' {
		return json.Unmarshal(aux.Content, &m.Content)
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(aux.Content, &parts); err != nil {
		return err
	}
	var texts []string
	for _, p := range parts {
		switch p.Type {
		case "text":
			texts = append(texts, p.Text)
		case "image_url":
			m.Images = append(m.Images, p.ImageURL.URL)
		}
	}
	m.Content = strings.Join(texts, "\n")
	return nil
}

// Server is the test server.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	script   []Step
	always   Step // once the script is done
	requests []Request
	quiet    bool // keep no requests (a long benchmark)
	embedded []EmbeddingRequest
	conns    atomic.Int64 // connections accepted
}

// EmbeddingRequest is what the server was sent on /embeddings.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Authorization  string          `json:"-"`
}

// EmbeddingDims is the length of the server's embeddings.
const EmbeddingDims = 8

// Embedding is the server's vector of a text: a count of its words by
// their first letter's code modulo EmbeddingDims, so that texts sharing
// words, and only those, are alike; tests know it in advance.
func Embedding(text string) []float64 {
	v := make([]float64, EmbeddingDims)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		v[int(w[0])%EmbeddingDims]++
	}
	return v
}

// EmbeddingRequests returns what the server was sent on /embeddings.
func (s *Server) EmbeddingRequests() []EmbeddingRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]EmbeddingRequest(nil), s.embedded...)
}

// embeddings answers /v1/embeddings as OpenAI does: the input (one string
// or an array of them) in order, each an Embedding; a scripted error step
// answers with its status.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req EmbeddingRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error(), "")
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			writeError(w, http.StatusBadRequest, "input: a string or an array of strings", "")
			return
		}
		inputs = []string{one}
	}
	s.mu.Lock()
	s.embedded = append(s.embedded, req)
	step := s.always
	if len(s.script) > 0 && s.script[0].Status != 0 && s.script[0].Status != http.StatusOK {
		step, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if step.Status != 0 && step.Status != http.StatusOK {
		writeError(w, step.Status, fmt.Sprintf("scripted error %d", step.Status), step.RetryAfter)
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []datum `json:"data"`
		Model  string  `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: req.Model}
	for i, in := range inputs {
		out.Data = append(out.Data, datum{Object: "embedding", Index: i, Embedding: Embedding(in)})
		out.Usage.PromptTokens += len(strings.Fields(in))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// New starts a server; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }, script ...Step) *Server {
	s := &Server{script: script}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// Conns is how many connections clients opened to the server so far.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// BaseURL is what clients are configured with.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Script replaces the steps still to come.
func (s *Server) Script(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = steps
}

// Always sets the step answered once the script is done (the zero Step
// unless set), and stops recording requests: a load of many.
func (s *Server) Always(step Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always, s.quiet = step, true
}

// Requests returns what the server was sent so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/embeddings" && r.Method == http.MethodPost {
		s.embeddings(w, r)
		return
	}
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var req Request
	req.Authorization, req.Header = r.Header.Get("Authorization"), r.Header.Clone()
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	if !s.quiet {
		s.requests = append(s.requests, req)
	}
	step := s.always
	if len(s.script) > 0 {
		step, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()

	if step.Delay > 0 {
		select {
		case <-time.After(step.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if step.Status != 0 && step.Status != http.StatusOK {
		writeError(w, step.Status, fmt.Sprintf("scripted error %d", step.Status), step.RetryAfter)
		return
	}
	if req.Stream && step.NoStream {
		writeError(w, http.StatusBadRequest, "streaming is not supported", "")
		return
	}
	text := step.Text
	if text == "" && len(step.ToolCalls) == 0 {
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == "user" {
				text = req.Messages[i].Content
				break
			}
		}
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	completion := len(strings.Fields(text))
	model := req.Model
	if model == "" {
		model = "test-model"
	}
	finish := "stop"
	var calls []any
	for i, c := range step.ToolCalls {
		finish = "tool_calls"
		calls = append(calls, map[string]any{"index": i, "id": fmt.Sprintf("call_%d", i), "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": c.Arguments}})
	}
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": text}
		if calls != nil {
			msg["tool_calls"] = calls
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": msg}},
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": time.Now().Unix(),
			"model": model, "choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if text != "" {
		for _, word := range strings.SplitAfter(text, " ") {
			send(chunk(map[string]any{"content": word}, nil))
		}
	}
	for _, c := range calls {
		send(chunk(map[string]any{"tool_calls": []any{c}}, nil))
	}
	send(chunk(map[string]any{}, finish))
	send(map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": time.Now().Unix(),
		"model": model, "choices": []any{},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func writeError(w http.ResponseWriter, status int, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "test_error", "code": status}})
}
