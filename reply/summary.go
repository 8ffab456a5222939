package reply

import (
	"context"
	"fmt"
	"strings"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// summaryShare is the part of the budget the rolling summary may take.
const summaryShare = 4 // one quarter

// ExtractiveSummary extends a summary with messages that left the window,
// without a model: one line per message (its first sentence), the oldest
// lines dropped when the summary outgrows maxTokens. It is incremental by
// construction: the previous summary is extended, never recomputed.
func ExtractiveSummary(prev string, msgs []parley.Message, maxTokens int) string {
	lines := []string{}
	if prev != "" {
		lines = strings.Split(prev, "\n")
	}
	for _, m := range msgs {
		s := firstSentence(m.Text)
		if s == "" {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %s", speaker(m), s))
	}
	// The oldest lines go first. Lines joined by newlines count as the
	// sum of their counts, so each line is counted once, not the whole
	// summary once per line dropped.
	counts := make([]textCount, len(lines))
	var total textCount
	for i, l := range lines {
		counts[i] = countText(l)
		total = total.add(counts[i], 1)
	}
	total.bytes += len(lines) - 1 // the newlines
	for len(lines) > 1 && total.tokens() > maxTokens {
		total = total.add(counts[0], -1)
		total.bytes-- // its newline
		lines, counts = lines[1:], counts[1:]
	}
	out := strings.Join(lines, "\n")
	if EstimateTokens(out) > maxTokens {
		out = truncateTokens(out, maxTokens)
	}
	return out
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for i, r := range s {
		if (r == '.' || r == '!' || r == '?') && i > 10 {
			return s[:i+1]
		}
		if i > 200 {
			return s[:i] + "…"
		}
	}
	return s
}

// ModelSummary extends a summary with a model's help: the model is given
// the previous summary and the new messages, never the whole history.
func ModelSummary(ctx context.Context, p llm.Provider, model, prev string, msgs []parley.Message, maxTokens int) (string, error) {
	var b strings.Builder
	if prev != "" {
		b.WriteString("Summary so far:\n" + prev + "\n\n")
	}
	b.WriteString("New messages:\n")
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s: %s\n", speaker(m), m.Text)
	}
	res, err := p.Complete(ctx, llm.Request{Model: model, MaxTokens: maxTokens, Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: fmt.Sprintf("Update the summary of a chat conversation with the new messages. "+
			"Keep facts about the user, decisions and open questions. At most %d words. Answer with the summary only.", maxTokens*3/4)},
		{Role: llm.RoleUser, Content: b.String()},
	}})
	if err != nil {
		return "", err
	}
	return truncateTokens(strings.TrimSpace(res.Text), maxTokens), nil
}
