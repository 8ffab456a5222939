package live

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// A subscriber whose buffer is full of deltas still hears that events were
// stored: that signal is never dropped, a delta is.
func TestNotifyIsNeverDropped(t *testing.T) {
	h := NewHub()
	ch, cancel := h.Subscribe("c1")
	defer cancel()
	for range subscriberBuffer + 10 {
		h.PublishDelta(parley.Delta{ConversationID: "c1"})
	}
	require.Len(t, ch, subscriberBuffer)
	h.Notify("c1")
	stored := 0
	for len(ch) > 0 {
		if (<-ch).Delta == nil {
			stored++
		}
	}
	require.Equal(t, 1, stored)
}

// NotifyAll reaches every subscriber of every conversation, once each.
func TestNotifyAll(t *testing.T) {
	h := NewHub()
	a, cancelA := h.Subscribe("c1")
	defer cancelA()
	b, cancelB := h.Subscribe("c2")
	defer cancelB()
	other, cancelOther := h.Subscribe("c2")
	cancelOther()
	h.NotifyAll()
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	require.Empty(t, other, "a cancelled subscription hears nothing")
	require.Nil(t, (<-a).Delta)
}
