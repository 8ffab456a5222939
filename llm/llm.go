// Package llm talks to language models: any OpenAI-compatible
// chat-completions endpoint, and a built-in offline responder used when no
// endpoint is configured.
package llm

import (
	"context"
	"time"
)

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool" // a tool call's result
)

// Message is one chat message sent to a model.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ToolCalls are an assistant message's calls; ToolCallID is the call a
	// tool message answers.
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// Images go with a user message, as data: or https: URLs (models
	// that see).
	Images []string `json:"-"`
}

// Tool is a function the model may call (OpenAI's function tools).
type Tool struct {
	Name        string         // a-z, A-Z, 0-9, _ and -
	Description string         // when to call it
	Parameters  map[string]any // JSON Schema of its arguments
}

// ToolCall is one call the model made.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"` // JSON, as the model wrote it: check it
}

// Request is one completion request.
type Request struct {
	Model       string
	Messages    []Message
	Temperature *float64
	MaxTokens   int
	// OnDelta, when set, receives the text as the model streams it.
	OnDelta func(text string)
	// Hints carry the structured context the messages were made from. Real
	// models read the messages; the built-in responder reads the hints.
	Hints Hints
	// Schema, when set, asks for structured output: the reply is JSON of
	// this schema (OpenAI's response_format json_schema, strict).
	Schema *JSONSchema
	// Tools the model may call; a call comes back in Response.ToolCalls.
	Tools []Tool
}

// JSONSchema names a JSON Schema a reply must follow.
type JSONSchema struct {
	Name   string         // a-z, A-Z, 0-9, _ and -
	Schema map[string]any // the schema itself
}

// Hints are the parts of the context, unrendered.
type Hints struct {
	BotName   string
	Language  string
	UserText  string         // the user messages being answered
	Retrieved []string       // earlier messages relevant to them
	KV        map[string]any // the user's key-value context
	Media     []string       // what the reply sends (library items, described)
}

// Response is a completed reply.
type Response struct {
	Text             string
	Provider         string
	Model            string
	PromptTokens     int
	CompletionTokens int
	FinishReason     string
	Latency          time.Duration
	ToolCalls        []ToolCall
}

// Provider completes chat requests.
type Provider interface {
	Complete(ctx context.Context, req Request) (*Response, error)
	Name() string
}
