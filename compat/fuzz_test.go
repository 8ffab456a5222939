package compat

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// FuzzReconcile: whatever history a V1 client sends, reconciliation never
// fails, appends only the client's tail, appending it makes the two
// histories agree, and their digests agree when the histories do.
func FuzzReconcile(f *testing.F) {
	f.Add(`[{"bot":true,"content":["Hi there!"]},{"bot":false,"content":["Hey"]}]`, `[{"bot":true,"content":["Hi there!"]}]`)
	f.Add(`[]`, `[{"bot":false,"content":["x"]}]`)
	f.Add(`[{"bot":false,"content":[" a "]}]`, `[{"bot":false,"content":["a",""]}]`)
	f.Fuzz(func(t *testing.T, clientJSON, storedJSON string) {
		var client, stored []V1Message
		if json.Unmarshal([]byte(clientJSON), &client) != nil || json.Unmarshal([]byte(storedJSON), &stored) != nil {
			return
		}
		items := make([]parley.HistoryItem, len(client))
		for i, m := range client {
			items[i] = parley.HistoryItem{FromBot: m.Bot, Bubbles: m.Content}
		}
		msgs := make([]parley.Message, len(stored))
		for i, m := range stored {
			msgs[i] = parley.Message{Seq: int64(i + 1), FromBot: m.Bot, Bubbles: m.Content}
		}
		r := Reconcile(items, msgs)
		// The digests, which V1 calls compare instead of the histories,
		// agree exactly when the item-by-item comparison does.
		digest := parley.ChainStart
		for _, m := range msgs {
			digest = parley.ChainDigest(digest, m.FromBot, parley.Canonical(m.Bubbles, m.Text))
		}
		require.Equal(t, r.Status == InSync, string(Digests(items)[len(items)]) == string(digest))
		switch r.Status {
		case InSync:
			require.Empty(t, r.Append)
			require.Len(t, items, len(msgs))
		case Appended:
			require.Equal(t, items[len(msgs):], r.Append)
			after := append([]parley.Message(nil), msgs...)
			for i, it := range r.Append {
				after = append(after, parley.Message{Seq: int64(len(msgs) + i + 1), FromBot: it.FromBot, Bubbles: it.Bubbles})
			}
			require.Equal(t, InSync, Reconcile(items, after).Status)
		case Diverged:
			require.NotNil(t, r.DivergedAt)
			require.LessOrEqual(t, *r.DivergedAt, len(items))
			require.Empty(t, r.Append, "nothing is stored from a diverging history")
		default:
			t.Fatalf("status %q", r.Status)
		}
	})
}
