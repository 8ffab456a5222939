package rank

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestRank(t *testing.T) {
	t.Parallel()
	msgs := []parley.Message{
		{Seq: 1, Text: "I love hiking in the mountains with my dog"},
		{Seq: 2, Text: "the weather is nice"},
		{Seq: 3, Text: "my dog is called Rex"},
		{Seq: 4, Text: "the the the the the"},
		{Seq: 5, Text: "Rex loves the mountains, Rex loves snow"},
		{Seq: 6, Text: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen and then a volcano"},
	}
	cases := []struct {
		q    string
		keep int
		want []int64
	}{
		{"what is my dog's name", 3, []int64{3, 1, 2}}, // my+dog+is, my+dog, is
		{"Rex", 2, []int64{5, 3}},                      // more occurrences rank higher
		{"mountains dog", 3, []int64{1, 3, 5}},         // both words beat one; shorter beats longer
		{"the", 1, []int64{4}},
		{"volcano", 3, []int64{6}}, // a match past the sixteenth word counts
		{"unrelated", 3, nil},
		{"", 3, nil},
	}
	for _, tc := range cases {
		got := Rank(tc.q, msgs, tc.keep)
		var seqs []int64
		for _, m := range got {
			seqs = append(seqs, m.Seq)
		}
		require.Equal(t, tc.want, seqs, tc.q)
	}
}

func TestHashing(t *testing.T) {
	t.Parallel()
	e := Hashing{}
	vs, err := e.Embed(context.Background(), []string{"I love paintings", "a painter's love", "the stock market", "", "I love paintings"})
	require.NoError(t, err)
	require.Len(t, vs[0], HashingDims)
	require.InDelta(t, 1, parley.Cosine(vs[0], vs[0]), 1e-5, "unit length")
	require.Equal(t, vs[0], vs[4], "the same text, the same vector")
	require.Greater(t, parley.Cosine(vs[0], vs[1]), parley.Cosine(vs[0], vs[2])+0.2, "shared words and word parts are alike")
	require.Zero(t, parley.Cosine(vs[0], vs[3]), "no words: the zero vector")
	book := HashVector("my bookshelf")
	require.Greater(t, parley.Cosine(book, HashVector("a book shelf")), parley.Cosine(book, HashVector("a tall tree")))
}
