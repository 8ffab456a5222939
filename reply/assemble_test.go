package reply

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// history makes n alternating messages, user first, each about words long.
func history(n, words int) []parley.Message {
	out := make([]parley.Message, n)
	for i := range out {
		out[i] = parley.Message{Seq: int64(i + 1), FromBot: i%2 == 1,
			Text: fmt.Sprintf("message %d. %s", i+1, strings.Repeat("lorem ", words)), CreatedAt: time.Unix(int64(i), 0)}
	}
	return out
}

func TestAssemble(t *testing.T) {
	t.Parallel()
	bot := parley.Bot{ID: "bot-1", Name: "Shoebot", Persona: "You sell shoes.", Language: "en",
		Model: parley.ModelSettings{ContextTokens: 1000}}
	cases := []struct {
		name  string
		in    Input
		check func(t *testing.T, c Context)
	}{
		{"short history fits whole", Input{Bot: bot, History: history(5, 5), AnsweredSeq: 4}, func(t *testing.T, c Context) {
			require.Len(t, c.Messages, 6) // system + 5
			require.Equal(t, llm.RoleSystem, c.Messages[0].Role)
			require.Equal(t, llm.RoleUser, c.Messages[1].Role)
			require.Equal(t, llm.RoleAssistant, c.Messages[2].Role)
			require.Equal(t, int64(1), c.WindowStart)
			require.Empty(t, c.Unsummarised)
			require.Contains(t, c.Messages[0].Content, "You sell shoes.")
			require.Contains(t, c.Hints.UserText, "message 5")
		}},
		{"budget cuts old messages", Input{Bot: bot, History: history(200, 20), AnsweredSeq: 198}, func(t *testing.T, c Context) {
			require.LessOrEqual(t, c.Tokens, c.Budget)
			require.Greater(t, c.WindowStart, int64(150))
			require.Contains(t, c.Messages[len(c.Messages)-1].Content, "message 200")
			require.Len(t, c.Unsummarised, int(c.WindowStart-1), "everything before the window needs summarising")
			sum := 0
			for _, p := range c.Parts {
				sum += p.Tokens
			}
			require.Equal(t, c.Tokens, sum, "parts add up")
		}},
		{"summary covers older messages", Input{Bot: bot, History: history(200, 20), AnsweredSeq: 198,
			Summary: "User wants red shoes.", SummarySeq: 150}, func(t *testing.T, c Context) {
			require.Contains(t, c.Messages[0].Content, "User wants red shoes.")
			require.Equal(t, int64(151), c.Unsummarised[0].Seq, "only what the summary lacks")
			require.Equal(t, "summary", c.Parts[1].Name)
		}},
		{"the message being answered always goes", Input{Bot: parley.Bot{Model: parley.ModelSettings{ContextTokens: 100}},
			History: []parley.Message{{Seq: 1, Text: strings.Repeat("huge ", 1000)}}}, func(t *testing.T, c Context) {
			require.Len(t, c.Messages, 2)
			require.Less(t, EstimateTokens(c.Messages[1].Content), 100)
			require.True(t, strings.HasSuffix(c.Messages[1].Content, "…"))
		}},
		{"language of the conversation wins", Input{Bot: bot, Conversation: parley.Conversation{Language: "es"},
			User: parley.User{Language: "fr"}, History: history(1, 3)}, func(t *testing.T, c Context) {
			require.Contains(t, c.Messages[0].Content, `"es"`)
			require.Equal(t, "es", c.Hints.Language)
		}},
		{"user language before bot language", Input{Bot: bot, User: parley.User{Language: "fr"}, History: history(1, 3)},
			func(t *testing.T, c Context) { require.Equal(t, "fr", c.Hints.Language) }},
		{"key-value context, sorted", Input{Bot: bot, User: parley.User{KV: map[string]any{"plan": "gold", "age": 30}},
			History: history(1, 3)}, func(t *testing.T, c Context) {
			require.Contains(t, c.Messages[0].Content, "- age: 30\n- plan: gold")
			require.Equal(t, "user_context", c.Parts[1].Name)
			require.Equal(t, 2, c.Parts[1].Items)
		}},
		{"memories and retrieved", Input{Bot: bot, Memories: []parley.Memory{{ID: "m1", Text: "likes red"}}, History: history(3, 3),
			Retrieved: []parley.Message{{Seq: 1, Text: "size 42"}}}, func(t *testing.T, c Context) {
			require.Contains(t, c.Messages[0].Content, "- likes red")
			require.Contains(t, c.Messages[0].Content, "- User: size 42")
			require.Equal(t, []string{"size 42"}, c.Hints.Retrieved)
			require.Equal(t, Part{Name: "memories", Tokens: c.Parts[1].Tokens, Items: 1, IDs: []string{"m1"}}, c.Parts[1])
			require.Equal(t, Part{Name: "retrieved", Tokens: c.Parts[2].Tokens, Items: 1, Seqs: []int64{1}}, c.Parts[2])
		}},
		{"memories and retrieved within an eighth of the budget each", Input{Bot: parley.Bot{Model: parley.ModelSettings{ContextTokens: 800}},
			Memories:  []parley.Memory{{ID: "m1", Text: "likes red"}, {ID: "m2", Text: strings.Repeat("long ", 100)}, {ID: "m3", Text: "short"}},
			Retrieved: []parley.Message{{Seq: 1, Text: "size 42"}, {Seq: 2, Text: strings.Repeat("long ", 100)}},
			History:   history(3, 3)}, func(t *testing.T, c Context) {
			require.Equal(t, []string{"m1"}, c.Parts[1].IDs, "the best first, while they fit")
			require.Equal(t, []int64{1}, c.Parts[2].Seqs)
			require.NotContains(t, c.Messages[0].Content, "long long")
			require.Equal(t, 4, len(c.Messages), "the history still fits")
		}},
		{"media described", Input{Bot: bot, History: []parley.Message{{Seq: 1, Text: "look",
			AttachedMedia: []parley.Media{{URL: "https://e.com/a.png", MediaType: "image/png"}, {ContentID: "c-9"}}}}},
			func(t *testing.T, c Context) {
				require.Contains(t, c.Messages[1].Content, "[attached image/png: https://e.com/a.png]")
				require.Contains(t, c.Messages[1].Content, "[attached library item c-9]")
			}},
		{"no persona: a default one", Input{Bot: parley.Bot{Name: "Ann"}, History: history(1, 1)}, func(t *testing.T, c Context) {
			require.Contains(t, c.Messages[0].Content, "You are Ann")
			require.Equal(t, DefaultBudget, c.Budget)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, Assemble(tc.in))
		})
	}
}

func TestVeryLongHistoryStaysInBudget(t *testing.T) {
	t.Parallel()
	for _, budget := range []int{200, 1000, 4000, 16000} {
		c := Assemble(Input{Bot: parley.Bot{Model: parley.ModelSettings{ContextTokens: budget}}, History: history(1000, 30),
			AnsweredSeq: 998})
		require.LessOrEqual(t, c.Tokens, budget, "budget %d", budget)
		require.Greater(t, len(c.Messages), 1)
	}
}

func TestExtractiveSummaryIsIncremental(t *testing.T) {
	t.Parallel()
	msgs := history(10, 3)
	s1 := ExtractiveSummary("", msgs[:5], 1000)
	require.Equal(t, 5, strings.Count(s1, "\n")+1)
	require.True(t, strings.HasPrefix(s1, "User: message 1."))
	s2 := ExtractiveSummary(s1, msgs[5:], 1000)
	require.True(t, strings.HasPrefix(s2, s1), "extended, not recomputed")
	require.Contains(t, s2, "Bot: message 10.")

	small := ExtractiveSummary(s2, nil, 20)
	require.LessOrEqual(t, EstimateTokens(small), 20)
	require.Contains(t, small, "message 10.", "the newest lines are kept")
}

// TestExtractiveSummaryDropsOldestLines: the summary keeps the newest lines
// that fit, exactly as counting the joined text after each drop would
// (the summary counts each line once and adds the counts up).
func TestExtractiveSummaryDropsOldestLines(t *testing.T) {
	t.Parallel()
	texts := []string{"Short one.", "A somewhat longer sentence about the weather today!", "日本語のメッセージです。",
		"Mixed 中文 and English words here?", "ok", "   spaced   out   words  .", "x"}
	for seed := range 200 {
		rng := seed
		next := func(n int) int { rng = (rng*1103515245 + 12345) & 0x7fffffff; return rng % n }
		prevLines := make([]string, next(8))
		for i := range prevLines {
			prevLines[i] = texts[next(len(texts))]
		}
		msgs := make([]parley.Message, next(6))
		for i := range msgs {
			msgs[i] = parley.Message{Text: texts[next(len(texts))] + " " + texts[next(len(texts))], FromBot: next(2) == 0}
		}
		maxTokens := 1 + next(60)
		prev := strings.Join(prevLines, "\n")
		got := ExtractiveSummary(prev, msgs, maxTokens)

		// The reference: join, count, drop the oldest line, again.
		lines := []string{}
		if prev != "" {
			lines = strings.Split(prev, "\n")
		}
		for _, m := range msgs {
			if s := firstSentence(m.Text); s != "" {
				lines = append(lines, speaker(m)+": "+s)
			}
		}
		for len(lines) > 1 && EstimateTokens(strings.Join(lines, "\n")) > maxTokens {
			lines = lines[1:]
		}
		want := strings.Join(lines, "\n")
		if EstimateTokens(want) > maxTokens {
			want = truncateTokens(want, maxTokens)
		}
		require.Equal(t, want, got, "seed %d", seed)
	}
}
