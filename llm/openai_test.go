package llm_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
)

func request(text string) llm.Request {
	return llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: "be brief"}, {Role: llm.RoleUser, Content: text}}}
}

func TestOpenAIStreams(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Step{Text: "Hello there friend"})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), APIKey: "k", Model: "m-1"})
	var deltas []string
	req := request("hi")
	temp := 0.2
	req.Temperature, req.MaxTokens = &temp, 50
	req.OnDelta = func(s string) { deltas = append(deltas, s) }
	res, err := p.Complete(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, "Hello there friend", res.Text)
	require.Equal(t, []string{"Hello ", "there ", "friend"}, deltas, "deltas arrive as streamed")
	require.Equal(t, "stop", res.FinishReason)
	require.Equal(t, "m-1", res.Model)
	require.Equal(t, 3, res.CompletionTokens)
	require.Equal(t, 3, res.PromptTokens)
	got := srv.Requests()
	require.Len(t, got, 1)
	require.True(t, got[0].Stream)
	require.Equal(t, []llmtest.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}, got[0].Messages)
	require.Equal(t, 0.2, *got[0].Temperature)
	require.Equal(t, 50, got[0].MaxTokens)
}

func TestOpenAIFallsBackWhenStreamingIsRefused(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Step{NoStream: true}, llmtest.Step{Text: "plain answer"})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), Model: "m"})
	res, err := p.Complete(context.Background(), request("x"))
	require.NoError(t, err)
	require.Equal(t, "plain answer", res.Text)
	got := srv.Requests()
	require.Len(t, got, 2)
	require.False(t, got[1].Stream)
}

func TestOpenAIRetriesRateLimits(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Step{Status: 429, RetryAfter: "1"}, llmtest.Step{Text: "after the wait"})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), Model: "m"})
	start := time.Now()
	res, err := p.Complete(context.Background(), request("x"))
	require.NoError(t, err)
	require.Equal(t, "after the wait", res.Text)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Retry-After is honoured")
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Step{Status: 500}, llmtest.Step{Status: 500}, llmtest.Step{Status: 500})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), Model: "m", MaxRetries: -1})
	_, err := p.Complete(context.Background(), request("x"))
	require.Error(t, err)
	require.Len(t, srv.Requests(), 1, "no retries when none are configured")

	slow := llmtest.New(t, llmtest.Step{Delay: 2 * time.Second})
	p = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: slow.BaseURL(), Model: "m", Timeout: 200 * time.Millisecond, MaxRetries: -1})
	start := time.Now()
	_, err = p.Complete(context.Background(), request("x"))
	require.Error(t, err)
	require.Less(t, time.Since(start), 1500*time.Millisecond, "the timeout cuts a slow endpoint")
}

// TestMockLLM runs the provider against an independent OpenAI-compatible
// server nobody here wrote: @dwmkerr/mock-llm (npm), which echoes the last
// user message. .ci/run installs it; MOCK_LLM names its binary.
func TestMockLLM(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("MOCK_LLM")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MOCK_LLM is not set on CI")
		}
		t.Skip("MOCK_LLM not set (scripts/test.sh sets it when mock-llm is installed)")
	}
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+port)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: "http://127.0.0.1:" + port + "/v1", APIKey: "none", Model: "gpt-4o"})
	var res *llm.Response
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err = p.Complete(context.Background(), request("ping from parley")); err == nil {
			break
		}
	}
	require.NoError(t, err)
	require.Contains(t, res.Text, "ping from parley")
	var streamed strings.Builder
	req := request("stream this please")
	req.OnDelta = func(s string) { streamed.WriteString(s) }
	res, err = p.Complete(context.Background(), req)
	require.NoError(t, err)
	require.Contains(t, res.Text, "stream this please")
	require.Equal(t, res.Text, streamed.String())
}

// TestOpenAIIgnoresEnvironment: the SDK's own client reads OPENAI_API_KEY
// and friends from the environment; a provider sends only the key it was
// given, because its endpoint may be a tenant's.
func TestOpenAIIgnoresEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "ambient-key")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "operators-org")
	t.Setenv("OPENAI_PROJECT_ID", "operators-project")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Operator-Secret: s3cret")
	srv := llmtest.New(t, llmtest.Step{Text: "a"}, llmtest.Step{Text: "b"})
	_, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), MaxRetries: -1}).Complete(context.Background(), request("x"))
	require.NoError(t, err)
	_, err = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), APIKey: "given", MaxRetries: -1}).Complete(context.Background(), request("x"))
	require.NoError(t, err)
	got := srv.Requests()
	require.Len(t, got, 2)
	require.Equal(t, "", got[0].Authorization)
	require.Equal(t, "Bearer given", got[1].Authorization)
	for _, r := range got {
		for name, v := range r.Header {
			for _, ambient := range []string{"operators-org", "operators-project", "s3cret", "ambient-key"} {
				require.NotContains(t, v, ambient, "header %s", name)
			}
		}
	}
}

func TestOpenAIToolCalls(t *testing.T) {
	t.Parallel()
	for _, noStream := range []bool{false, true} {
		call := llmtest.Step{ToolCalls: []llmtest.ToolCall{{Name: "send_media", Arguments: `{"content_ids":["c-1"]}`}}}
		text := llmtest.Step{Text: "Here it is!"}
		srv := llmtest.New(t, call, text)
		if noStream { // each streaming attempt is refused first, then made without streaming
			srv = llmtest.New(t, llmtest.Step{NoStream: true}, call, llmtest.Step{NoStream: true}, text)
		}
		p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), APIKey: "k", Model: "m"})
		req := request("a photo of the beach?")
		req.Tools = []llm.Tool{{Name: "send_media", Description: "send library items",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"content_ids": map[string]any{"type": "array"}}}}}
		res, err := p.Complete(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, "tool_calls", res.FinishReason)
		require.Len(t, res.ToolCalls, 1)
		require.Equal(t, "send_media", res.ToolCalls[0].Name)
		require.JSONEq(t, `{"content_ids":["c-1"]}`, res.ToolCalls[0].Arguments)
		require.NotEmpty(t, res.ToolCalls[0].ID)
		sent := srv.Requests()[0].Tools
		require.Contains(t, string(sent), `"name":"send_media"`)
		require.Contains(t, string(sent), `"type":"function"`)

		// The call and its result go back for the text.
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, ToolCalls: res.ToolCalls},
			llm.Message{Role: llm.RoleTool, ToolCallID: res.ToolCalls[0].ID, Content: "sent"})
		res, err = p.Complete(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, "Here it is!", res.Text)
		last := srv.Requests()[len(srv.Requests())-1].Messages
		require.Equal(t, "assistant", last[2].Role)
		require.Equal(t, "send_media", last[2].ToolCalls[0].Function.Name)
		require.Equal(t, "tool", last[3].Role)
		require.Nil(t, res.ToolCalls)
		require.NotEmpty(t, last[3].ToolCallID)
	}
}
