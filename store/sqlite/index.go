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

// Those bounded merges leave the index in about one segment per level, and
// a search within a conversation seeks every term in every segment, which
// at a million messages is most of recall's time (docs/performance.md has
// the measurements). So once the indexer has caught up, it merges the
// whole index into one segment, fullMergeStep pages per step (one short
// hold of the writer each, so appends interleave), when the segments other
// than the largest hold fullMergeRatio of its pages or more: a full merge
// rewrites the whole index, and the ratio bounds that rewriting to a
// constant amount per message indexed, as size-tiered compaction does.
const (
	fullMergeStep  = 64
	fullMergeRatio = 0.25
	// fullMergeTick bounds the merging one tick of the indexer does.
	fullMergeTick = 50 * time.Millisecond
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
	merging := false // a full merge is under way
	var checked time.Time
	for {
		indexed := 0
		for {
			n, err := db.IndexPending(ctx)
			indexed += n
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
		// Caught up: go on with a full merge, or see whether one is due
		// (at most every ten ticks, and not while messages come).
		if !merging && indexed == 0 && time.Since(checked) >= 10*interval {
			checked = time.Now()
			due, err := db.fullMergeDue(ctx)
			if err != nil && ctx.Err() == nil {
				db.logger.Error("search index segments", "err", err)
			}
			merging = due
		}
		for start := time.Now(); merging && time.Since(start) < fullMergeTick; {
			worked, err := db.MergeIndexStep(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				db.logger.Error("search index merge", "err", err)
			}
			merging = worked && err == nil
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

// fullMergeDue says whether the full-text index is due a full merge: it
// has more than one segment, and those other than the largest hold
// fullMergeRatio of its pages or more.
func (db *DB) fullMergeDue(ctx context.Context) (bool, error) {
	// messages_fts_idx holds a row per leaf page of each segment, about.
	rows, err := db.read.QueryContext(ctx, `SELECT count(*) FROM messages_fts_idx GROUP BY segid`)
	if err != nil {
		return false, fmt.Errorf("sqlite: index segments: %w", err)
	}
	defer rows.Close()
	var pages []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return false, fmt.Errorf("sqlite: index segments: %w", err)
		}
		pages = append(pages, n)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("sqlite: index segments: %w", err)
	}
	return mergeDue(pages), nil
}

// mergeDue says whether segments of these sizes are due a full merge.
func mergeDue(pages []int) bool {
	if len(pages) < 2 {
		return false
	}
	largest, all := 0, 0
	for _, n := range pages {
		largest = max(largest, n)
		all += n
	}
	return float64(all-largest) >= fullMergeRatio*float64(largest)
}

// MergeIndexStep does one step of merging the full-text index into one
// segment (about fullMergeStep pages) and reports whether it did any work:
// false once the index is one segment.
func (db *DB) MergeIndexStep(ctx context.Context) (bool, error) {
	worked := false
	// Redoable, as indexing is: a step lost to a power cut is merged again.
	err := db.inTx(ctx, redoable, func(tx *Tx) error {
		var before, after int64
		if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
			return fmt.Errorf("sqlite: merge index: %w", err)
		}
		// A negative page count merges segments of every level together.
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?)`, -fullMergeStep); err != nil {
			return fmt.Errorf("sqlite: merge index: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
			return fmt.Errorf("sqlite: merge index: %w", err)
		}
		// FTS5's documented test: two changes or more, and the merge
		// did work; fewer, and there was nothing to merge.
		worked = after-before >= 2
		return nil
	})
	return worked, err
}

// Settle indexes what is pending and, when a full merge is due, does it
// now: what the indexer does by itself once it has caught up after a load,
// so that a benchmark measures the store at rest.
func (db *DB) Settle(ctx context.Context) error {
	for {
		n, err := db.IndexPending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	due, err := db.fullMergeDue(ctx)
	if err != nil || !due {
		return err
	}
	for {
		worked, err := db.MergeIndexStep(ctx)
		if err != nil || !worked {
			return err
		}
	}
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
