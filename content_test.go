package parley_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestIndexTerms(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"Dogs dog DOGS", []string{"dog"}}, // stems once, case folded
		{"a dog in the park", []string{"dog", "the", "park"}}, // words of three letters or more
		{"sunset.jpg photo_1", []string{"sunset", "jpg", "photo_1"}},
		{"niño años", []string{"niño", "año"}}, // runes, not bytes, count
		{long + " kept", []string{"kept"}},     // longer than 64 bytes: not a term
		{strings.Repeat("x", 64), []string{strings.Repeat("x", 64)}},
		{"running runs", []string{"runn", "run"}}, // the light stemmer's own forms
	} {
		require.Equal(t, tc.want, parley.IndexTerms(tc.text), "%q", tc.text)
	}
	it := parley.ContentItem{Title: "Golden retriever", Tags: []string{"pets"}, Caption: "a dog", FileName: "max_1.png"}
	require.Equal(t, []string{"golden", "retriever", "pet", "dog", "max", "png"}, it.SearchTerms())
}
