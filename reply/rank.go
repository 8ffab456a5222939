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
	terms := uniq(stems(parley.SearchTerms(query)))
	index := make(map[string]int, len(terms))
	for i, t := range terms {
		index[t] = i
	}
	best := bm25(len(candidates), len(terms), func(i int, row []int) int {
		words := parley.Words(candidates[i].Text) // every word: a match may be anywhere
		for _, w := range words {
			if t, ok := index[parley.Stem(w)]; ok {
				row[t]++
			}
		}
		return len(words)
	}, func(i int) int64 { return candidates[i].Seq }, keep)
	var out []parley.Message
	for _, i := range best {
		out = append(out, candidates[i])
	}
	return out
}

// bm25 ranks n candidates against nTerms query terms and returns the
// indexes of the best keep with a score above zero, best first, ties to the
// higher seq. count fills a candidate's row with how often each term occurs
// in it and returns the candidate's length in words.
func bm25(n, nTerms int, count func(i int, row []int) int, seq func(i int) int64, keep int) []int {
	if n == 0 || nTerms == 0 {
		return nil
	}
	// Term frequencies in one slice, a row per candidate: scoring a hundred
	// candidates per reply must not allocate a map for each.
	tf := make([]int, n*nTerms)
	lengths := make([]int, n)
	df := make([]int, nTerms)
	total := 0
	for i := range n {
		row := tf[i*nTerms : (i+1)*nTerms]
		lengths[i] = count(i, row)
		total += lengths[i]
		for t, f := range row {
			if f > 0 {
				df[t]++
			}
		}
	}
	avg := max(float64(total)/float64(n), 1)
	type scored struct {
		i     int
		score float64
	}
	docs := make([]scored, 0, n)
	for i := range n {
		score := 0.0
		for t := range nTerms {
			f := float64(tf[i*nTerms+t])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (float64(n)-float64(df[t])+0.5)/(float64(df[t])+0.5))
			score += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(lengths[i])/avg))
		}
		if score > 0 {
			docs = append(docs, scored{i, score})
		}
	}
	sort.SliceStable(docs, func(a, b int) bool {
		if docs[a].score != docs[b].score {
			return docs[a].score > docs[b].score
		}
		return seq(docs[a].i) > seq(docs[b].i)
	})
	out := make([]int, 0, min(keep, len(docs)))
	for _, d := range docs[:min(keep, len(docs))] {
		out = append(out, d.i)
	}
	return out
}

// stems are the words' stems (parley.Stem), in place.
func stems(words []string) []string {
	for i, w := range words {
		words[i] = parley.Stem(w)
	}
	return words
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
