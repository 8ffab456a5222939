package memory

import (
	"context"
	"slices"
	"strings"
	"unicode"

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
	query = Content(query)
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

// stopwords are words a question is made of but no answer is found by
// (English and Spanish): ranking by them only rewards long turns.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if of to in on at by for with from about as into over after before
		is are was were be been being am do does did done have has had having i me my we our you your he him his she her it its
		they them their what which who whom whose when where why how this that these those there here then than so not no
		can could would should will shall may might must also just very too any some all each every both either
		el la los las un una unos unas y o pero de del al a en con por para sin sobre como que qué quién cuándo dónde cómo
		es son era fue ser estar está están he ha han hay mi mis tu tus su sus nos le les lo se me te ya muy más menos`) {
		stopwords[w] = true
	}
}

// Content is a query without its stopwords (the query itself when it is
// nothing else).
func Content(query string) string {
	var kept []string
	for _, w := range parley.Words(query) {
		w = strings.TrimFunc(w, unicode.IsPunct) // "¿cuándo" is a word to parley.Words
		if w != "" && !stopwords[w] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return query
	}
	return strings.Join(kept, " ")
}
