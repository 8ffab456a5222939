// Package rank orders texts by their relevance to a query: BM25 over
// their words (parley.Words), shared by replies' retrieval, recall and the
// content library's search. Rank matches words by parley.Stem, the stem of
// the server's own term indexes; recall by their Porter2 stems (Terms), as
// the stores' full-text indexes match them.
package rank

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
	n := len(candidates)
	scores := BM25(n, n, len(terms), func(i int, row []float64) float64 {
		words := parley.Words(candidates[i].Text) // every word: a match may be anywhere
		for _, w := range words {
			if t, ok := index[parley.Stem(w)]; ok {
				row[t]++
			}
		}
		return float64(len(words))
	})
	var out []parley.Message
	for _, i := range Best(scores, func(i int) int64 { return candidates[i].Seq }, keep) {
		out = append(out, candidates[i])
	}
	return out
}

// BM25 scores n documents against nTerms query terms, with the inverse
// document frequencies of a collection of total documents (at least n; a
// term's document frequency is counted over the n). count fills a
// document's row with the (weighted) occurrences of each term and returns
// its (weighted) length.
func BM25(n, total, nTerms int, count func(i int, row []float64) float64) []float64 {
	if n == 0 || nTerms == 0 {
		return make([]float64, n)
	}
	// Term frequencies in one slice, a row per document: scoring a hundred
	// candidates per reply must not allocate a map for each.
	tf := make([]float64, n*nTerms)
	lengths := make([]float64, n)
	df := make([]int, nTerms)
	sum := 0.0
	for i := range n {
		row := tf[i*nTerms : (i+1)*nTerms]
		lengths[i] = count(i, row)
		sum += lengths[i]
		for t, f := range row {
			if f > 0 {
				df[t]++
			}
		}
	}
	avg := max(sum/float64(n), 1)
	idf := make([]float64, nTerms)
	for t := range idf {
		idf[t] = math.Log(1 + (float64(max(total, n))-float64(df[t])+0.5)/(float64(df[t])+0.5))
	}
	scores := make([]float64, n)
	for i := range n {
		score := 0.0
		for t := range nTerms {
			if f := tf[i*nTerms+t]; f > 0 {
				score += idf[t] * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*lengths[i]/avg))
			}
		}
		scores[i] = score
	}
	return scores
}

// Best returns the indexes of the best keep scores above zero, best first,
// ties to the higher seq.
func Best(scores []float64, seq func(i int) int64, keep int) []int {
	docs := make([]int, 0, len(scores))
	for i, s := range scores {
		if s > 0 {
			docs = append(docs, i)
		}
	}
	sort.SliceStable(docs, func(a, b int) bool {
		if sa, sb := scores[docs[a]], scores[docs[b]]; sa != sb {
			return sa > sb
		}
		return seq(docs[a]) > seq(docs[b])
	})
	return docs[:min(keep, len(docs))]
}

// stems are the words' stems (parley.Stem), in place.
func stems(words []string) []string {
	for i, w := range words {
		words[i] = parley.Stem(w)
	}
	return words
}

// uniq is ss without repeats, in order.
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

// KeyTerms keeps the n most informative words of text for a full-text
// search: the longest ones of three letters or more (short words are
// mostly function words, and every word costs the index a lookup).
func KeyTerms(text string, n int) []string {
	var words []string
	seen := map[string]bool{}
	for _, w := range parley.Words(text) {
		if len([]rune(w)) >= 3 && !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	sort.SliceStable(words, func(i, j int) bool { return len(words[i]) > len(words[j]) })
	if len(words) > n {
		words = words[:n]
	}
	return words
}
