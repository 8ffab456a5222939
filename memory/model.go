package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// Model extracts facts with a language model, through structured output:
// the model answers JSON of factSchema, each fact with its kind, a key
// naming what it is about, a short text, a confidence and the seqs of the
// messages it comes from. What the model returns is checked: unknown kinds
// become "fact", seqs not in the page are dropped, empty or oversized
// texts are skipped.
type Model struct {
	Provider llm.Provider
	Model    string
}

// factSchema is the structured output asked of the model.
var factSchema = map[string]any{
	"type": "object", "additionalProperties": false, "required": []string{"facts"},
	"properties": map[string]any{
		"facts": map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "additionalProperties": false,
			"required": []string{"kind", "key", "text", "confidence", "source_seqs"},
			"properties": map[string]any{
				"kind":        map[string]any{"type": "string", "enum": parley.MemoryKinds},
				"key":         map[string]any{"type": "string", "description": "what the fact is about, e.g. name, home, pet:dog, taste:pizza"},
				"text":        map[string]any{"type": "string", "description": "the fact as a short statement about the user"},
				"confidence":  map[string]any{"type": "number"},
				"source_seqs": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
			},
		}},
	},
}

const extractPrompt = `You keep a chat bot's long-term memory of one user. From the user's messages below,
extract the lasting facts the user states about themselves: their name, where they live or come from,
their work, family, pets, likes and dislikes, plans, and events of their life, with dates made absolute
from each message's date. Do not guess, do not record the bot's words, small talk or one-off requests.
Give each fact a key naming what it is about (the same key for the same thing: "name", "home",
"pet:dog", "taste:pizza"), a short text in the third person, a confidence from 0 to 1, and the seqs of
the messages it comes from. Answer with no facts when there are none.`

// Extract asks the model for the facts of msgs.
func (m Model) Extract(ctx context.Context, msgs []parley.Message) ([]parley.Fact, error) {
	var b strings.Builder
	seqs := map[int64]bool{}
	for _, msg := range msgs {
		who := "user"
		if msg.FromBot {
			who = "bot"
		} else {
			seqs[msg.Seq] = true
		}
		fmt.Fprintf(&b, "[%d] %s %s: %s\n", msg.Seq, msg.CreatedAt.UTC().Format(time.DateOnly), who, msg.Text)
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	res, err := m.Provider.Complete(ctx, llm.Request{Model: m.Model, Schema: &llm.JSONSchema{Name: "memories", Schema: factSchema},
		Messages: []llm.Message{{Role: llm.RoleSystem, Content: extractPrompt}, {Role: llm.RoleUser, Content: b.String()}}})
	if err != nil {
		return nil, fmt.Errorf("memory: model: %w", err)
	}
	var out struct {
		Facts []struct {
			Kind       string  `json:"kind"`
			Key        string  `json:"key"`
			Text       string  `json:"text"`
			Confidence float64 `json:"confidence"`
			SourceSeqs []int64 `json:"source_seqs"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(res.Text), &out); err != nil {
		return nil, fmt.Errorf("memory: the model's answer is not the facts' JSON: %w", err)
	}
	var facts []parley.Fact
	for _, f := range out.Facts {
		f.Text = strings.TrimSpace(f.Text)
		if f.Text == "" || len(f.Text) > parley.MaxMemoryLen {
			continue
		}
		if !slices.Contains(parley.MemoryKinds, f.Kind) {
			f.Kind = parley.KindFact
		}
		var src []int64
		for _, s := range f.SourceSeqs {
			if seqs[s] {
				src = append(src, s)
			}
		}
		key := strings.ToLower(strings.TrimSpace(f.Key))
		if len(key) > 200 {
			key = key[:200]
		}
		facts = append(facts, parley.Fact{Kind: f.Kind, Key: key, Text: f.Text, Confidence: min(max(f.Confidence, 0), 1), SourceSeqs: src})
	}
	return facts, nil
}
