package postgres

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestDeltaPayloads: pieces packed into notifications under the payload
// limit, in order, none lost but one too large for any notification.
func TestDeltaPayloads(t *testing.T) {
	piece := func(conv string, n int) parley.Delta {
		return parley.Delta{ConversationID: conv, UptoSeq: 1, Text: strings.Repeat("x", n)}
	}
	for _, tc := range []struct {
		name   string
		in     []parley.Delta
		notes  int
		passed int // pieces in the notes
	}{
		{"none", nil, 0, 0},
		{"a few small ones: one note", []parley.Delta{piece("a", 10), piece("b", 10), piece("a", 11)}, 1, 3},
		{"more than one note holds", []parley.Delta{piece("a", 3000), piece("b", 3000), piece("c", 3000)}, 2, 3},
		{"one too large is left out", []parley.Delta{piece("a", 10), piece("b", notifyLimit), piece("c", 10)}, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := deltaPayloads("replica-1", tc.in)
			require.Len(t, notes, tc.notes)
			var passed []parley.Delta
			for _, p := range notes {
				require.LessOrEqual(t, len(p), notifyLimit)
				var n deltaNote
				require.NoError(t, json.Unmarshal([]byte(p), &n))
				require.Equal(t, "replica-1", n.From)
				passed = append(passed, n.Deltas...)
			}
			require.Len(t, passed, tc.passed)
			for i := 1; i < len(passed); i++ { // in order
				require.Less(t, indexOf(tc.in, passed[i-1]), indexOf(tc.in, passed[i]))
			}
		})
	}
}

func indexOf(ds []parley.Delta, d parley.Delta) int {
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}
