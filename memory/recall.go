package memory

import (
	"context"
	"slices"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/reply"
)

// Recall's retrieval, what GET .../recall answers: memories ranked by BM25
// over their texts and messages by BM25 over the store's full-text search
// candidates, fused by reciprocal rank (each list's k-th result scores
// 1/(rrfK+k)), so that neither list's scale decides.
const (
	rrfK             = 60
	recallCandidates = 200 // messages the full-text search brings, shared by the query's terms
	recallTerms      = 8
	recallPerList    = 50
)

// Search returns the best limit hits for query in a conversation: its
// user's memories (of its bot) and its messages.
func (r Recall) Search(ctx context.Context, tenantID string, c *parley.Conversation, query string, limit int) ([]parley.RecallHit, error) {
	ms, err := r.Store.ListMemories(ctx, tenantID, parley.MemoryFilter{BotID: c.BotID, UserID: c.UserID, Limit: recallScan})
	if err != nil {
		return nil, err
	}
	docs := make([]parley.Message, len(ms))
	for i, m := range ms {
		docs[i] = parley.Message{Seq: int64(i + 1), Text: m.Text}
	}
	var hits []parley.RecallHit
	for rank, d := range reply.Rank(query, docs, recallPerList) {
		m := ms[d.Seq-1]
		hits = append(hits, parley.RecallHit{Kind: "memory", Text: m.Text, MemoryID: m.ID, ConversationID: m.ConversationID,
			SourceSeqs: m.SourceSeqs, Score: 1 / float64(rrfK+rank+1)})
	}
	if terms := reply.KeyTerms(query, recallTerms); len(terms) > 0 {
		found, err := r.Store.SearchMessages(ctx, tenantID, c.ID, terms, 0, max(recallCandidates/len(terms), 20))
		if err != nil {
			return nil, err
		}
		seen := map[int64]bool{}
		candidates := found[:0]
		for _, m := range found {
			if !seen[m.Seq] {
				seen[m.Seq] = true
				candidates = append(candidates, m)
			}
		}
		for rank, m := range reply.Rank(query, candidates, recallPerList) {
			hits = append(hits, parley.RecallHit{Kind: "message", Text: m.Text, Seq: m.Seq, ConversationID: c.ID,
				SourceSeqs: []int64{m.Seq}, Score: 1 / float64(rrfK+rank+1)})
		}
	}
	slices.SortStableFunc(hits, func(a, b parley.RecallHit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return hits[:min(limit, len(hits))], nil
}
