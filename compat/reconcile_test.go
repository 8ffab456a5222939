package compat

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func item(bot bool, bubbles ...string) parley.HistoryItem {
	return parley.HistoryItem{FromBot: bot, Bubbles: bubbles}
}

func stored(items ...parley.HistoryItem) []parley.Message {
	out := make([]parley.Message, len(items))
	for i, it := range items {
		out[i] = parley.Message{Seq: int64(i + 1), FromBot: it.FromBot, Bubbles: it.Bubbles}
	}
	return out
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	hi, hey, how := item(true, "Hi there!"), item(false, "Hey"), item(true, "How can I help?", "Ask me anything")
	cases := []struct {
		name       string
		client     []parley.HistoryItem
		stored     []parley.Message
		status     string
		appended   int
		divergedAt int
	}{
		{"both empty", nil, nil, InSync, 0, -1},
		{"first call", []parley.HistoryItem{hi, hey}, nil, Appended, 2, -1},
		{"retry, nothing new", []parley.HistoryItem{hi, hey}, stored(hi, hey), InSync, 0, -1},
		{"next turn", []parley.HistoryItem{hi, hey, how}, stored(hi, hey), Appended, 1, -1},
		{"white space is not a difference", []parley.HistoryItem{item(true, " Hi there! ")}, stored(hi), InSync, 0, -1},
		{"edited", []parley.HistoryItem{hi, item(false, "Hey!!")}, stored(hi, hey), Diverged, 0, 1},
		{"side swapped", []parley.HistoryItem{item(false, "Hi there!")}, stored(hi), Diverged, 0, 0},
		{"reordered", []parley.HistoryItem{hey, hi}, stored(hi, hey), Diverged, 0, 0},
		{"truncated", []parley.HistoryItem{hi}, stored(hi, hey), Diverged, 0, 1},
		{"bubbles split differently", []parley.HistoryItem{item(true, "How can I help? Ask me anything")}, stored(how), Diverged, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Reconcile(tc.client, tc.stored)
			require.Equal(t, tc.status, r.Status)
			require.Equal(t, tc.appended, r.Appended)
			require.Len(t, r.Append, tc.appended)
			if tc.divergedAt >= 0 {
				require.NotNil(t, r.DivergedAt)
				require.Equal(t, tc.divergedAt, *r.DivergedAt)
				require.NotEmpty(t, r.Detail)
			} else {
				require.Nil(t, r.DivergedAt)
			}
		})
	}
	// Appended items are the client's tail, in order.
	r := Reconcile([]parley.HistoryItem{hi, hey, how}, stored(hi))
	require.Equal(t, []parley.HistoryItem{hey, how}, r.Append)
	// A stored message without bubbles compares by its text.
	r = Reconcile([]parley.HistoryItem{hey}, []parley.Message{{Seq: 1, Text: "Hey"}})
	require.Equal(t, InSync, r.Status)
}
