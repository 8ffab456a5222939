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
	terms := uniq(parley.SearchTerms(query))
	if len(terms) == 0 || len(candidates) == 0 {
		return nil
	}
	index := make(map[string]int, len(terms))
	for i, t := range terms {
		index[t] = i
	}
	// Term frequencies of the query's terms only, one row per candidate, in
	// one slice: scoring a hundred candidates per reply must not allocate a
	// map for each.
	tf := make([]int, len(candidates)*len(terms))
	lengths := make([]int, len(candidates))
	df := make([]int, len(terms))
	total := 0
	for i, m := range candidates {
		row := tf[i*len(terms) : (i+1)*len(terms)]
		words := parley.Words(m.Text) // every word: a match may be anywhere
		for _, w := range words {
			if t, ok := index[w]; ok {
				if row[t] == 0 {
					df[t]++
				}
				row[t]++
			}
		}
		lengths[i] = len(words)
		total += len(words)
	}
	avg := max(float64(total)/float64(len(candidates)), 1)
	n := float64(len(candidates))
	type scored struct {
		m     *parley.Message
		score float64
	}
	docs := make([]scored, 0, len(candidates))
	for i := range candidates {
		score := 0.0
		for t := range terms {
			f := float64(tf[i*len(terms)+t])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			score += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(lengths[i])/avg))
		}
		if score > 0 {
			docs = append(docs, scored{&candidates[i], score})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool {
		if docs[i].score != docs[j].score {
			return docs[i].score > docs[j].score
		}
		return docs[i].m.Seq > docs[j].m.Seq
	})
	var out []parley.Message
	for _, d := range docs[:min(keep, len(docs))] {
		out = append(out, *d.m)
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
