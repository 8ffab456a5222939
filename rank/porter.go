package rank

import (
	"bytes"
	"slices"
	"strings"

	"github.com/kljensen/snowball/english"

	"github.com/parley-chat/parley"
)

// Porter is the Porter2 (Snowball English) stem of a lower-case word: the
// stemmer of PostgreSQL's english configuration and, but for a few words,
// of SQLite FTS5's porter tokenizer. Ranking the stores' full-text matches
// of messages by it means that every match the index made ("inspiring",
// found for "inspiration") is a match to the ranking too; parley.Stem,
// lighter, is the stem of the server's own term indexes.
func Porter(w string) string { return english.Stem(w, true) }

// Terms are a query's terms as Porter stems, and tell which of them a word
// is. A Porter2 stem begins with its word's first two letters, or is its
// first letter alone (its steps rewrite endings only), but for three
// special words; so a word whose first letters begin no term is no term,
// unstemmed: most words of a text are settled by that look-up, and
// stemming costs about half a microsecond.
type Terms struct {
	List   []string       // the stems, once each, in the query's order
	index  map[string]int // stem: its index in List
	starts []uint16       // the stems' first two bytes
	firsts []byte         // the first byte of each stem shorter than two
	seen   map[string]int // word: its term, or -1
}

// NewTerms makes the terms of the given words (already lower-case).
func NewTerms(words []string) *Terms {
	t := &Terms{index: map[string]int{}, seen: map[string]int{}}
	for _, w := range words {
		s := Porter(w)
		if _, ok := t.index[s]; ok || s == "" {
			continue
		}
		t.index[s] = len(t.List)
		t.List = append(t.List, s)
		if len(s) >= 2 {
			t.starts = append(t.starts, start(s))
		} else {
			t.firsts = append(t.firsts, s[0])
		}
	}
	return t
}

// Of returns the index in List of the term the word (lower-case) is, or -1.
// Each distinct word that may be one is stemmed once.
func (t *Terms) Of(w string) int {
	if !t.mayBe(w) {
		return -1
	}
	if i, ok := t.seen[w]; ok {
		return i
	}
	i := -1
	if j, ok := t.index[Porter(w)]; ok {
		i = j
	}
	t.seen[w] = i
	return i
}

// mayBe says whether the word's stem may be a term, by its first letters.
func (t *Terms) mayBe(w string) bool {
	if len(w) >= 2 && slices.Contains(t.starts, start(w)) {
		return true
	}
	return len(w) >= 1 && bytes.IndexByte(t.firsts, w[0]) >= 0 || porterSpecial(w)
}

// In appends to ids the term (its index in List) of each word of text
// that is one, and returns them with the number of text's words
// (parley.Words).
func (t *Terms) In(text string, ids []int) ([]int, int) {
	n := 0
	for w := range parley.EachWord(text) {
		n++
		if i := t.Of(w); i >= 0 {
			ids = append(ids, i)
		}
	}
	return ids, n
}

// start is a word's first two bytes (its first letter, if that takes two),
// as a number; the word has two bytes at least.
func start(w string) uint16 { return uint16(w[0])<<8 | uint16(w[1]) }

// porterSpecial are the words whose Porter2 stem changes their second
// letter: "dying", "lying", "tying" (to "die", "lie", "tie").
func porterSpecial(w string) bool { return len(w) == 5 && strings.HasSuffix(w, "ying") }
