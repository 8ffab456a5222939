package store

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestPageSlot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		limit int
		rows  int
		caps  []int // the page's capacity after each growth
	}{
		{"a short page", 200, 2, []int{16}},
		{"a history page", 51, 51, []int{16, 51}},
		{"a long page", 1000, 300, []int{16, 64, 256, 1000}},
		{"a limit under the first size", 5, 5, []int{5}},
		{"no limit", math.MaxInt, 70, []int{16, 64, 256}},
		{"rows past the limit still fit", 2, 3, []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var page []parley.Message
			var caps []int
			for i := range tc.rows {
				before := cap(page)
				var m *parley.Message
				page, m = PageSlot(page, tc.limit)
				require.Len(t, page, i+1)
				require.Same(t, &page[i], m, "the slot is the page's last message")
				m.Seq = int64(i + 1)
				if cap(page) != before {
					caps = append(caps, cap(page))
				}
			}
			for i, m := range page {
				require.Equal(t, int64(i+1), m.Seq, "earlier rows kept when the page grows")
			}
			// The allocator may round a capacity up to its size class.
			require.Len(t, caps, len(tc.caps))
			for i, want := range tc.caps {
				require.GreaterOrEqual(t, caps[i], want)
				require.Less(t, caps[i], want+want/4+2, "not much past %d", want)
			}
		})
	}
}

func TestTextBubbles(t *testing.T) {
	t.Parallel()
	var b TextBubbles
	var lists [][]string
	for i := range 40 {
		lists = append(lists, b.Of(string(rune('a'+i%26))))
	}
	for i, l := range lists {
		require.Equal(t, []string{string(rune('a' + i%26))}, l)
		require.Equal(t, 1, cap(l), "appending must not reach a neighbour's bubble")
	}
	grown := append(lists[3], "more")
	require.Equal(t, []string{"d", "more"}, grown)
	require.Equal(t, []string{"e"}, lists[4], "the next message's bubble is untouched")
}
