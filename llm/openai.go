package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// OpenAIConfig configures an OpenAI-compatible endpoint: OpenAI, vLLM,
// llama.cpp server, Ollama, LM Studio and the like.
type OpenAIConfig struct {
	BaseURL string // e.g. https://api.openai.com/v1 or http://localhost:11434/v1
	APIKey  string
	Model   string // default model when a request names none
	// Timeout bounds one HTTP attempt. Default 60 s.
	Timeout time.Duration
	// MaxRetries is how often the SDK retries 429s, 5xx and connection
	// errors, with back-off and honouring Retry-After. Default 2; negative
	// means none.
	MaxRetries int
	// HTTPClient is the client requests go through (an egress-guarded one
	// for endpoints that tenants configure).
	HTTPClient *http.Client
}

// OpenAI is a Provider for OpenAI-compatible chat-completions endpoints,
// through the official SDK.
type OpenAI struct {
	chat  openai.ChatService
	model string
}

// NewOpenAI returns a provider for the endpoint.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	return &OpenAI{chat: openai.NewChatService(cfg.options()...), model: cfg.Model}
}

// options are the SDK's request options for the endpoint, the defaults
// filled in.
func (cfg OpenAIConfig) options() []option.RequestOption {
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 2
	}
	cfg.MaxRetries = max(cfg.MaxRetries, 0)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	// The chat service is made from these options alone, not through
	// openai.NewClient, which adds OPENAI_API_KEY, OPENAI_ORG_ID,
	// OPENAI_CUSTOM_HEADERS and the like from the process environment:
	// those are the operator's, and this endpoint may be a tenant's.
	opts := []option.RequestOption{
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithRequestTimeout(cfg.Timeout),
	}
	return opts
}

// Name is "openai".
func (p *OpenAI) Name() string { return "openai" }

// Complete streams the completion, passing deltas to req.OnDelta. An
// endpoint that refuses to stream is asked again without streaming.
func (p *OpenAI) Complete(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	params := p.params(req)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := p.chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		chunks++
		if req.OnDelta != nil && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			req.OnDelta(chunk.Choices[0].Delta.Content)
		}
	}
	err := stream.Err()
	_ = stream.Close()
	var apiErr *openai.Error
	if err != nil && chunks == 0 && errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 &&
		apiErr.StatusCode != http.StatusTooManyRequests && apiErr.StatusCode != http.StatusUnauthorized {
		return p.completeOnce(ctx, req, start)
	}
	if err != nil {
		return nil, fmt.Errorf("llm: openai stream: %w", err)
	}
	if len(acc.Choices) == 0 {
		return nil, errors.New("llm: openai: the endpoint returned no choices")
	}
	return &Response{Text: acc.Choices[0].Message.Content, Provider: p.Name(), Model: firstNonEmpty(acc.Model, params.Model),
		PromptTokens: int(acc.Usage.PromptTokens), CompletionTokens: int(acc.Usage.CompletionTokens),
		FinishReason: acc.Choices[0].FinishReason, Latency: time.Since(start), ToolCalls: toolCalls(acc.Choices[0].Message.ToolCalls)}, nil
}

func (p *OpenAI) completeOnce(ctx context.Context, req Request, start time.Time) (*Response, error) {
	params := p.params(req)
	res, err := p.chat.Completions.New(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("llm: openai: %w", err)
	}
	if len(res.Choices) == 0 {
		return nil, errors.New("llm: openai: the endpoint returned no choices")
	}
	text := res.Choices[0].Message.Content
	if req.OnDelta != nil && text != "" {
		req.OnDelta(text)
	}
	return &Response{Text: text, Provider: p.Name(), Model: firstNonEmpty(res.Model, params.Model),
		PromptTokens: int(res.Usage.PromptTokens), CompletionTokens: int(res.Usage.CompletionTokens),
		FinishReason: res.Choices[0].FinishReason, Latency: time.Since(start), ToolCalls: toolCalls(res.Choices[0].Message.ToolCalls)}, nil
}

// toolCalls are the function calls of a completion.
func toolCalls(calls []openai.ChatCompletionMessageToolCallUnion) []ToolCall {
	var out []ToolCall
	for _, c := range calls {
		if c.Type == "function" || c.Function.Name != "" {
			out = append(out, ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
		}
	}
	return out
}

func (p *OpenAI) params(req Request) openai.ChatCompletionNewParams {
	params := openai.ChatCompletionNewParams{Model: firstNonEmpty(req.Model, p.model)}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			params.Messages = append(params.Messages, openai.SystemMessage(m.Content))
		case RoleAssistant:
			if len(m.ToolCalls) == 0 {
				params.Messages = append(params.Messages, openai.AssistantMessage(m.Content))
				continue
			}
			am := openai.ChatCompletionAssistantMessageParam{}
			if m.Content != "" {
				am.Content.OfString = openai.String(m.Content)
			}
			for _, c := range m.ToolCalls {
				am.ToolCalls = append(am.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: c.ID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.Name, Arguments: c.Arguments}}})
			}
			params.Messages = append(params.Messages, openai.ChatCompletionMessageParamUnion{OfAssistant: &am})
		case RoleTool:
			params.Messages = append(params.Messages, openai.ToolMessage(m.Content, m.ToolCallID))
		default:
			if len(m.Images) == 0 {
				params.Messages = append(params.Messages, openai.UserMessage(m.Content))
				continue
			}
			parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(m.Content)}
			for _, img := range m.Images {
				parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: img}))
			}
			params.Messages = append(params.Messages, openai.UserMessage(parts))
		}
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		params.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	for _, t := range req.Tools {
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: t.Name, Description: openai.String(t.Description), Parameters: shared.FunctionParameters(t.Parameters)}))
	}
	if req.Schema != nil {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: req.Schema.Name, Schema: req.Schema.Schema,
				Strict: openai.Bool(true)}}}
	}
	return params
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
