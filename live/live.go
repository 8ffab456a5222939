// Package live fans news about conversations out to the clients following
// them (server-sent event streams, callers waiting for a reply). It carries
// signals only: stored events are read from the store, so a client that
// misses a signal loses nothing but a little latency.
package live

import (
	"sync"

	"github.com/parley-chat/parley"
)

// Signal tells a subscriber that new events are stored (Delta nil) or that
// a delta arrived.
type Signal struct {
	Delta *parley.Delta
}

// subscriberBuffer bounds what a slow subscriber may fall behind by: past
// it, deltas are dropped for that subscriber (stored events never are: the
// stream reads them from the store).
const subscriberBuffer = 64

// Hub routes signals by conversation.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan Signal]struct{}
	n    int
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[chan Signal]struct{}{}} }

// Subscribe follows a conversation until cancel is called.
func (h *Hub) Subscribe(conversationID string) (<-chan Signal, func()) {
	ch := make(chan Signal, subscriberBuffer)
	h.mu.Lock()
	if h.subs[conversationID] == nil {
		h.subs[conversationID] = map[chan Signal]struct{}{}
	}
	h.subs[conversationID][ch] = struct{}{}
	h.n++
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[conversationID], ch)
			if len(h.subs[conversationID]) == 0 {
				delete(h.subs, conversationID)
			}
			h.n--
			h.mu.Unlock()
		})
	}
}

// Notify tells a conversation's subscribers that new events are stored.
func (h *Hub) Notify(conversationID string) { h.send(conversationID, Signal{}) }

// NotifyAll tells every subscriber to read the store: after a gap in the
// news (a replica's link to the other replicas was down), any of them may
// have missed events.
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for ch := range subs {
			notify(ch)
		}
	}
}

// PublishDelta passes a delta to a conversation's subscribers.
func (h *Hub) PublishDelta(d parley.Delta) { h.send(d.ConversationID, Signal{Delta: &d}) }

func (h *Hub) send(conversationID string, s Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[conversationID] {
		if s.Delta == nil {
			notify(ch)
			continue
		}
		select {
		case ch <- s:
		default: // full: this delta is dropped for a subscriber that slow
		}
	}
}

// notify queues a store signal, never dropping it: a subscriber that only
// had deltas queued would otherwise miss stored events until the next one.
// With the buffer full the oldest signal makes room: a delta is only a
// preview, and a store signal already queued stands for this one too.
func notify(ch chan Signal) {
	for {
		select {
		case ch <- Signal{}:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

// Subscribers counts open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
