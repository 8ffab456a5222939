package memory_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/memory"
)

// TestModelExtract: with a model, facts come from its structured output,
// checked: unknown kinds become facts, seqs it made up are dropped, empty
// texts skipped; an answer that is not the JSON asked for is an error (the
// job is tried again), not an empty memory.
func TestModelExtract(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Step{Text: `{"facts":[
		{"kind":"name","key":"Name","text":"The user is called Ana","confidence":0.95,"source_seqs":[1]},
		{"kind":"mood","key":"mood","text":"Is happy","confidence":3,"source_seqs":[1,99,2]},
		{"kind":"like","key":"taste:x","text":"  ","confidence":0.5,"source_seqs":[1]}]}`},
		llmtest.Step{Text: "Sure! Ana lives in Madrid."})
	m := memory.Model{Provider: llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), MaxRetries: -1}), Model: "m"}
	said := time.Date(2023, 5, 8, 0, 0, 0, 0, time.UTC)
	msgs := []parley.Message{{Seq: 1, Text: "I'm Ana, so happy today", CreatedAt: said}, {Seq: 2, FromBot: true, Text: "Hi Ana!", CreatedAt: said}}
	facts, err := m.Extract(context.Background(), msgs)
	require.NoError(t, err)
	require.Equal(t, []parley.Fact{
		{Kind: parley.KindName, Key: "name", Text: "The user is called Ana", Confidence: 0.95, SourceSeqs: []int64{1}},
		{Kind: parley.KindFact, Key: "mood", Text: "Is happy", Confidence: 1, SourceSeqs: []int64{1}},
	}, facts)
	req := srv.Requests()[0]
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string `json:"name"`
			Strict bool   `json:"strict"`
		} `json:"json_schema"`
	}
	require.NoError(t, json.Unmarshal(req.ResponseFormat, &rf))
	require.Equal(t, "json_schema", rf.Type)
	require.Equal(t, "memories", rf.JSONSchema.Name)
	require.True(t, rf.JSONSchema.Strict)
	require.Contains(t, req.Messages[1].Content, "[1] 2023-05-08 user: I'm Ana, so happy today")
	require.Contains(t, req.Messages[1].Content, "[2] 2023-05-08 bot: Hi Ana!")

	_, err = m.Extract(context.Background(), msgs)
	require.Error(t, err, "prose instead of the JSON asked for")

	facts, err = m.Extract(context.Background(), []parley.Message{{Seq: 3, FromBot: true, Text: "only the bot"}})
	require.NoError(t, err)
	require.Empty(t, facts)
	require.Len(t, srv.Requests(), 2, "no user message: the model is not asked")
}
