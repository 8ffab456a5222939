package reply

import (
	"math"
	"sort"

	"github.com/parley-chat/parley"
)

// BM25 parameters (the usual ones).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Rank orders candidate messages by BM25 relevance to query, with the
// statistics (document frequencies, lengths) of the candidates themselves,
// and returns the best keep of them. Ties go to the newer message.
func Rank(query string, candidates []parley.Message, keep int) []parley.Message {
	terms := parley.SearchTerms(query)
	if len(terms) == 0 || len(candidates) == 0 {
		return nil
	}
	type doc struct {
		m      parley.Message
		tf     map[string]int
		length int
		score  float64
	}
	docs := make([]doc, len(candidates))
	df := map[string]int{}
	total := 0
	for i, m := range candidates {
		words := parley.SearchTerms(m.Text + " ") // same normalisation as the query
		d := doc{m: m, tf: map[string]int{}, length: len(words)}
		for _, w := range words {
			d.tf[w]++
		}
		for _, t := range uniq(terms) {
			if d.tf[t] > 0 {
				df[t]++
			}
		}
		total += d.length
		docs[i] = d
	}
	avg := float64(total) / float64(len(docs))
	n := float64(len(docs))
	for i := range docs {
		d := &docs[i]
		for _, t := range uniq(terms) {
			tf := float64(d.tf[t])
			if tf == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			d.score += idf * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(d.length)/max(avg, 1)))
		}
	}
	sort.SliceStable(docs, func(i, j int) bool {
		if docs[i].score != docs[j].score {
			return docs[i].score > docs[j].score
		}
		return docs[i].m.Seq > docs[j].m.Seq
	})
	var out []parley.Message
	for _, d := range docs {
		if d.score > 0 && len(out) < keep {
			out = append(out, d.m)
		}
	}
	return out
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
