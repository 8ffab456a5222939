package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-chat/parley"
)

// The indexer shares the single writer connection with appends and replies,
// which wait for it while it holds it. indexBatch bounds one indexing
// transaction, and indexMerge the segment merging done with it (in pages),
// so that no wait is long. FTS5's own automatic merging (migration 4 turns
// it off) would now and then merge a whole level inside one batch, holding
// every append behind it. Smaller batches wait less each but cost more in
// all, since part of every batch's cost is fixed. (docs/performance.md has
// the measurements behind these sizes.)
const (
	indexBatch = 512
	indexMerge = 128
)

// runIndexer keeps messages_fts up to date. Full-text indexing costs more
// than the rest of an append together, so it is taken off the request path:
// appends commit without it and this loop indexes what is new, advancing a
// watermark in the same transaction, so after a crash the loop resumes
// where it stopped and nothing is missed or indexed twice. Search therefore
// lags appends by a few hundred milliseconds at most.
func (db *DB) runIndexer(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := db.IndexPending(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				db.logger.Error("search indexer", "err", err)
				break
			}
			if n < indexBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// IndexPending indexes up to one batch of messages not yet in the full-text
// index and returns how many it indexed.
func (db *DB) IndexPending(ctx context.Context) (int, error) {
	var n int64
	// Redoable: the index is derived from the messages, and a batch lost
	// to a power cut takes its watermark with it (the log loses only its
	// end), so the batch is indexed again. No fsync of its own, then:
	// the next durable commit flushes it.
	err := db.inTx(ctx, redoable, func(tx *Tx) error {
		var from, to int64
		if err := tx.QueryRowContext(ctx, `SELECT last_rowid FROM search_index_state`).Scan(&from); err != nil {
			return fmt.Errorf("sqlite: read index watermark: %w", err)
		}
		if err := tx.QueryRowContext(ctx,
			`SELECT coalesce(max(pk), ?), count(*) FROM (SELECT pk FROM messages WHERE pk > ? ORDER BY pk LIMIT ?)`,
			from, from, indexBatch).Scan(&to, &n); err != nil {
			return fmt.Errorf("sqlite: find unindexed messages: %w", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO messages_fts (rowid, text, conv) SELECT pk, text, replace(conversation_id, '-', '')
			 FROM messages WHERE pk > ? AND pk <= ?`,
			from, to); err != nil {
			return fmt.Errorf("sqlite: index messages: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE search_index_state SET last_rowid = ?`, to); err != nil {
			return fmt.Errorf("sqlite: advance index watermark: %w", err)
		}
		// Each batch adds a segment, and every query term seeks in every
		// segment: do a bounded amount of merging now, so that segments stay
		// few without a stop-the-world optimize.
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?)`, indexMerge); err != nil {
			return fmt.Errorf("sqlite: merge index segments: %w", err)
		}
		return nil
	})
	return int(n), err
}

// RawInsert writes one message row in its own transaction with nothing else:
// no conversation lookup, no batching, no index. It is the baseline the
// benchmark compares appends with.
func (db *DB) RawInsert(ctx context.Context, tenantID, conversationID string, seq int64, text string) error {
	return db.withTx(ctx, func(tx *Tx) error { // durable, as an append is
		_, err := tx.ExecContext(ctx,
			`INSERT INTO messages (pk, id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, created_at)
			 VALUES (`+nextPKSQL+`, ?, ?, ?, ?, 0, ?, '[]', '[]', ?)`, parley.NewID(), conversationID, seq, tenantID, text, micros(parley.Now()))
		return err
	})
}
