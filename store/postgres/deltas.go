package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/parley-chat/parley"
)

// Reply pieces reach this replica's streams at once, and the other
// replicas' in batches: a transaction that NOTIFYs takes PostgreSQL's one
// lock for notifying commits, so a NOTIFY per piece (a model streams tens
// a second per reply) serialises every replica's commits behind them.
// Each replica sends what it gathered every deltaFlush, pieces of one
// reply that came together joined into one, in as few notifications as
// the payload limit allows, in one transaction.
const (
	deltaFlush   = 50 * time.Millisecond
	notifyLimit  = 7900  // NOTIFY payloads stop at 8000 bytes
	deltaBacklog = 10000 // pieces kept while the database is slow; past it the oldest go
)

// deltaNote is one notification on the delta channel: the pieces a
// replica gathered (From: its id, so that it skips its own).
type deltaNote struct {
	From   string         `json:"from"`
	Deltas []parley.Delta `json:"deltas"`
}

// deltaSender gathers a replica's pieces for the other replicas.
type deltaSender struct {
	mu      sync.Mutex
	pending []parley.Delta
	kick    chan struct{}
	done    chan struct{}
}

// PublishDelta passes a streamed piece of a reply to every replica's live
// subscribers: this replica's at once, the others' within deltaFlush.
func (db *DB) PublishDelta(_ context.Context, d parley.Delta) error {
	if db.hub != nil {
		db.hub.PublishDelta(d)
	}
	s := &db.deltas
	s.mu.Lock()
	if n := len(s.pending); n > 0 && s.pending[n-1].ConversationID == d.ConversationID && s.pending[n-1].UptoSeq == d.UptoSeq {
		s.pending[n-1].Text += d.Text // the next piece of the same reply
	} else {
		s.pending = append(s.pending, d)
		if len(s.pending) > deltaBacklog {
			s.pending = s.pending[1:]
		}
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// sendDeltas sends the gathered pieces until ctx ends.
func (db *DB) sendDeltas(ctx context.Context) {
	s := &db.deltas
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(deltaFlush):
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		payloads := deltaPayloads(db.replicaID, batch)
		if len(payloads) == 0 {
			continue
		}
		if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, deltaChannel, payloads); err != nil && ctx.Err() == nil {
			db.logger.Warn("postgres: notify deltas", "err", err, "deltas", len(batch)) // previews: not sent again
		}
	}
}

// deltaPayloads packs pieces into notifications of at most notifyLimit
// bytes, in order. A piece too large for one alone is left out (a
// preview; the stored reply is the whole of it).
func deltaPayloads(from string, deltas []parley.Delta) []string {
	var out []string
	note := deltaNote{From: from}
	flush := func() {
		if len(note.Deltas) > 0 {
			b, _ := json.Marshal(note) // strings and numbers: cannot fail
			out = append(out, string(b))
			note.Deltas = nil
		}
	}
	size := len(fmt.Sprintf(`{"from":%q,"deltas":[]}`, from))
	used := size
	for _, d := range deltas {
		b, _ := json.Marshal(d)
		if size+len(b) > notifyLimit {
			continue
		}
		if used+len(b)+1 > notifyLimit {
			flush()
			used = size
		}
		note.Deltas = append(note.Deltas, d)
		used += len(b) + 1
	}
	flush()
	return out
}

// relayDeltas passes another replica's pieces to this replica's
// subscribers (its own were passed when they came).
func (db *DB) relayDeltas(payload string) {
	var note deltaNote
	if json.Unmarshal([]byte(payload), &note) != nil || note.From == db.replicaID {
		return
	}
	for _, d := range note.Deltas {
		db.hub.PublishDelta(d)
	}
}
