// Package compat is the V1 compatibility layer's logic: how a stateless V1
// history (the client sends it whole on every call) is reconciled with the
// conversation Parley stores.
package compat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley"
)

// History states.
const (
	InSync   = "in_sync"  // the stored history was the client's
	Appended = "appended" // the client's history had new items; they were stored
	Diverged = "diverged" // the histories disagree; nothing stored was changed
)

// Result says what to do with a V1 call's history.
type Result struct {
	Status string `json:"status" enum:"in_sync,appended,diverged"`
	// Append are the client's items the store lacks, to store in order.
	Append []parley.HistoryItem `json:"-"`
	// Appended counts them.
	Appended int `json:"appended"`
	// DivergedAt is the index of the first client item that disagrees with
	// the stored history (or where one of them ends first).
	DivergedAt *int `json:"diverged_at,omitempty"`
	// Detail says how they disagree, for people.
	Detail string `json:"detail,omitempty"`
}

// Reconcile compares the client's history with the stored one, item by
// item from the start. The stored history is a prefix of the client's:
// the rest is appended. Anything else (an item edited, dropped, reordered,
// or a client history shorter than what is stored) is a divergence: the
// client's history is then the reply's context, as V1 promises, and the
// stored one stays as it is.
func Reconcile(client []parley.HistoryItem, stored []parley.Message) Result {
	for i, item := range client {
		if i >= len(stored) {
			rest := client[i:]
			return Result{Status: Appended, Append: rest, Appended: len(rest)}
		}
		if !same(item, stored[i]) {
			return Result{Status: Diverged, DivergedAt: &i, Detail: fmt.Sprintf(
				"item %d of messages (%s) differs from the stored message %d (%s)", i, describe(item.FromBot, item.Bubbles),
				stored[i].Seq, describe(stored[i].FromBot, stored[i].Bubbles))}
		}
	}
	if len(client) < len(stored) {
		return Shorter(len(client), len(stored))
	}
	return Result{Status: InSync}
}

// same compares an item with a stored message: the same side and the same
// canonical content (parley.Canonical), as the history digests do.
func same(item parley.HistoryItem, m parley.Message) bool {
	return item.FromBot == m.FromBot && slices.Equal(parley.Canonical(item.Bubbles, ""), parley.Canonical(m.Bubbles, m.Text))
}

// Digests returns the digest of every prefix of the client's history:
// Digests(items)[k] is that of its first k items (parley.ChainDigest).
func Digests(items []parley.HistoryItem) [][]byte {
	out := make([][]byte, len(items)+1)
	out[0] = parley.ChainStart
	for i, it := range items {
		out[i+1] = parley.ChainDigest(out[i], it.FromBot, parley.Canonical(it.Bubbles, ""))
	}
	return out
}

// Shorter is the result for a client history of n items that matches the
// first n of the stored messages, but stops short of them.
func Shorter(n, stored int) Result {
	return Result{Status: Diverged, DivergedAt: &n, Detail: fmt.Sprintf(
		"messages has %d items; %d messages are stored (the client's history is shorter)", n, stored)}
}

func describe(fromBot bool, bubbles []string) string {
	who := "user"
	if fromBot {
		who = "bot"
	}
	text := strings.Join(bubbles, " / ")
	if r := []rune(text); len(r) > 40 {
		text = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%s: %q", who, text)
}
