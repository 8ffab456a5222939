package parley_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestWords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"it's a don’t-stop snake_case 2023-10-13", []string{"it", "s", "a", "don", "t", "stop", "snake_case", "2023", "10", "13"}},
		{`"quoted" (AND) OR* NEAR/2`, []string{"quoted", "and", "or", "near", "2"}},
		{"¿Cuándo VIENES? Ñandú", []string{"¿cuándo", "vienes", "ñandú"}},
		{"  \t\n ", nil},
	} {
		require.Equal(t, c.want, orNil(parley.Words(c.text)), c.text)
		require.Equal(t, c.want, slices.Collect(parley.EachWord(c.text)), c.text)
	}
	var first []string
	for w := range parley.EachWord("one two three") {
		first = append(first, w)
		break
	}
	require.Equal(t, []string{"one"}, first, "a loop that stops early stops the words")
}

// FuzzEachWord: EachWord yields what Words returns, for any text.
func FuzzEachWord(f *testing.F) {
	for _, s := range []string{"Hello, World!", "¿Cuándo VIENES?", "a’b‘c", "x\x00y\xffz", "İstanbul ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, orNil(parley.Words(s)), slices.Collect(parley.EachWord(s)))
	})
}

// orNil is ws, or nil when it is empty (Words gives an empty list).
func orNil(ws []string) []string {
	if len(ws) == 0 {
		return nil
	}
	return ws
}
