package reply

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

func TestEstimateTokens(t *testing.T) {
	t.Parallel()
	// Reference counts are those of the cl100k_base tokenizer on the same
	// texts; the estimate must stay within a factor of 1.5 either way.
	cases := []struct {
		text string
		ref  int
	}{
		{"Hello", 1},
		{"Hey Caroline! Good to see you! I'm swamped with the kids & work. What's up with you? Anything new?", 25},
		{"The quick brown fox jumps over the lazy dog.", 10},
		{"Quiero pedir una pizza con aceitunas y mucho queso, por favor.", 17},
		{"今日は良い天気ですね", 9},
		{strings.Repeat("word ", 100), 100},
	}
	for _, tc := range cases {
		got := EstimateTokens(tc.text)
		require.LessOrEqual(t, float64(got), float64(tc.ref)*1.5+1, tc.text)
		require.GreaterOrEqual(t, float64(got), float64(tc.ref)/1.5, tc.text)
	}
	require.Zero(t, EstimateTokens(""))
}

// TestCountTextMatchesRunes: the byte-wise count equals counting rune by
// rune with unicode.IsSpace, on random texts of ASCII, Latin-1 and wider
// spaces and letters, CJK and invalid UTF-8.
func TestCountTextMatchesRunes(t *testing.T) {
	t.Parallel()
	reference := func(s string) textCount {
		c := textCount{bytes: len(s)}
		inWord := false
		for _, r := range s {
			if r >= 0x2E80 {
				c.wide++
			}
			space := unicode.IsSpace(r)
			if !space && !inWord {
				c.words++
			}
			inWord = !space
		}
		return c
	}
	pieces := []string{"a", "Z", "7", ".", " ", "\t", "\n", "\r\n", "\v", "\f", "\u0085", "\u00a0", "é", "ß",
		"\u2028", "\u3000", "中", "日本", "😀", "\xff", "\xe4\xb8"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		require.Equal(t, reference(b.String()), countText(b.String()), "%q", b.String())
	}
}

func BenchmarkCountText(b *testing.B) {
	text := strings.Repeat("Caroline: I went to the LGBTQ support group yesterday and it was so powerful. "+
		"Melanie: That's wonderful! How did it feel? ", 130)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		countText(text)
	}
}

func TestSplitBubbles(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("This is a sentence. ", 80) // 1600 bytes
	cases := []struct {
		name string
		text string
		want func(t *testing.T, got []string)
	}{
		{"one paragraph", "Hello there.", func(t *testing.T, got []string) { require.Equal(t, []string{"Hello there."}, got) }},
		{"paragraphs", "Hi!\n\nHow can I help?\r\n\r\nBye", func(t *testing.T, got []string) {
			require.Equal(t, []string{"Hi!", "How can I help?", "Bye"}, got)
		}},
		{"blank", "  \n\n  ", func(t *testing.T, got []string) { require.Empty(t, got) }},
		{"long paragraph cut at sentences", long, func(t *testing.T, got []string) {
			require.Len(t, got, 2)
			for _, b := range got {
				require.LessOrEqual(t, len([]rune(b)), maxBubble)
				require.True(t, strings.HasSuffix(b, "."), "cut after a sentence: %q", b[len(b)-10:])
			}
			require.Equal(t, strings.TrimSpace(long), got[0]+" "+got[1])
		}},
		{"no sentence ends", strings.Repeat("x", 2500), func(t *testing.T, got []string) {
			require.Len(t, got, 3)
			require.Equal(t, strings.Repeat("x", 2500), strings.Join(got, ""))
		}},
		{"multibyte", strings.Repeat("é", 1500), func(t *testing.T, got []string) {
			require.Len(t, got, 2)
			require.Equal(t, 1000, len([]rune(got[0])))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.want(t, SplitBubbles(tc.text)) })
	}
}
