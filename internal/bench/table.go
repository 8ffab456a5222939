package bench

import "strings"

// table writes a Markdown table with a measure and a target column and a
// column per store result.
type table[R any] struct {
	b  strings.Builder
	rs []R
}

// newTable starts a table of results, headed by each one's store name.
func newTable[R any](rs []R, store func(R) string) *table[R] {
	t := &table[R]{rs: rs}
	t.b.WriteString("| measure | target |")
	for _, r := range rs {
		t.b.WriteString(" " + store(r) + " |")
	}
	t.b.WriteString("\n|---|---|" + strings.Repeat("---|", len(rs)) + "\n")
	return t
}

// row adds a measure, f giving each result's cell.
func (t *table[R]) row(name, target string, f func(R) string) {
	t.b.WriteString("| " + name + " | " + target + " |")
	for _, r := range t.rs {
		t.b.WriteString(" " + f(r) + " |")
	}
	t.b.WriteString("\n")
}

func (t *table[R]) String() string { return t.b.String() }
