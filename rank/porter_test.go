package rank

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestPorter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ word, stem string }{
		{"inspiration", "inspir"}, {"inspiring", "inspir"}, {"activities", "activ"}, {"activity", "activ"},
		{"dances", "danc"}, {"dancing", "danc"}, {"cities", "citi"}, {"city", "citi"}, {"ties", "tie"},
		{"dying", "die"}, {"generously", "generous"}, {"was", "was"}, {"by", "by"},
	} {
		require.Equal(t, c.stem, Porter(c.word), c.word)
	}
}

// TestTerms: a word is the term its Porter stem is, whether or not its
// first letters were enough to tell it is none.
func TestTerms(t *testing.T) {
	t.Parallel()
	terms := NewTerms([]string{"inspiration", "writing", "die", "inspire", "cities"})
	require.Equal(t, []string{"inspir", "write", "die", "citi"}, terms.List)
	for _, c := range []struct {
		word string
		want int
	}{
		{"inspiring", 0}, {"inspired", 0}, {"writes", 1}, {"writer", -1}, {"dying", 2}, {"died", 2},
		{"city", 3}, {"citizen", -1}, {"aing", -1}, {"pottery", -1}, {"a", -1}, {"", -1},
	} {
		require.Equal(t, c.want, terms.Of(c.word), c.word)
		require.Equal(t, c.want, terms.Of(c.word), "%s, asked again", c.word)
	}
}

func TestTermsIn(t *testing.T) {
	t.Parallel()
	terms := NewTerms([]string{"walk", "dog"})
	ids, n := terms.In("Walked the DOGS, then walking; a dog!", nil)
	require.Equal(t, []int{0, 1, 0, 1}, ids)
	require.Equal(t, 7, n)
	ids, n = terms.In("", ids[:0])
	require.Empty(t, ids)
	require.Zero(t, n)
}

// FuzzPorterStart: the look-up Terms.Of skips stemming by holds for every
// word: its stem begins with its first two letters or is its first letter,
// but for the three special words.
func FuzzPorterStart(f *testing.F) {
	for _, w := range parley.Words(`Generously, the inspiring cities' activities ran by lying dying tying eyed aging icing owing
		using skies skis cries ties sing bed need dry cry fly canción niños año über caffè agreed feed proceed
		succeeding exceedingly communism arsenal generate universal aing hopeful goodness formalize sensational`) {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, w string) {
		if w == "" || strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLower(r) }) >= 0 {
			return // Words gives lower-case words
		}
		if s := Porter(w); !porterSpecial(w) && len(s) >= 2 && len(w) >= 2 {
			require.Equal(t, start(w), start(s), "%q stems to %q", w, s)
		} else if !porterSpecial(w) {
			require.True(t, strings.HasPrefix(w, s), "%q stems to %q", w, s)
		}
	})
}
