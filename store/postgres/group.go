package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/store"
)

// maxGroup bounds one group commit of appends.
const maxGroup = 128

// groupShards is how many groups commit at once, each for its share of
// the conversations: a group's statements run one after another on one
// connection, so one group at a time would leave the pool idle. A
// conversation always falls in the same shard, so that two groups of one
// replica never wait for each other's row locks.
const groupShards = 4

// groupTimeout bounds a group's transaction: its writers wait for it
// whatever their own deadlines, so a database that stops answering must
// end it.
const groupTimeout = 30 * time.Second

// groupWrite is one writer's part of a group commit: its writes, and the
// conversation whose row it locks.
type groupWrite struct {
	lock string
	fn   func(ctx context.Context, tx pgx.Tx) error
}

// inGroup runs fn in a group commit (store.Group): one transaction and
// one WAL flush with the other writers waiting, where PostgreSQL would
// flush once per transaction. The writers run in the order of the
// conversations they lock, so that groups committed at once by several
// replicas take their row locks in one order and cannot deadlock.
//
// A failing fn undoes its own writes and no one else's. fn gets a context
// of the group's, not the caller's: a caller going away must not roll back
// the others' writes.
func (db *DB) inGroup(ctx context.Context, lock string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	h := fnv.New32a()
	_, _ = h.Write([]byte(lock))
	return db.groups[h.Sum32()%groupShards].Do(ctx, groupWrite{lock: lock, fn: fn})
}

func (db *DB) commitGroup(batch []*store.GroupOp[groupWrite]) []error {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(batch[a].Item.lock, batch[b].Item.lock) })
	errs := make([]error, len(batch))
	// As on SQLite: the group runs without savepoints first (a writer
	// rarely fails); if one fails, that run is rolled back and the group
	// runs again with each writer under a savepoint.
	run := func(isolate bool) error {
		return db.withTx(ctx, func(tx pgx.Tx) error { return runGroup(ctx, tx, batch, order, errs, isolate) })
	}
	err := run(false)
	if errors.Is(err, errWriterFailed) {
		err = nil // a group of one: its writer's error is its outcome
		if len(batch) > 1 {
			err = run(true)
		}
	}
	if err != nil && len(batch) > 1 && retryAlone(err) {
		// A deadlock with a writer outside the groups (or a serialization
		// failure): each writer again in its own transaction.
		for _, i := range order {
			errs[i] = db.withTx(ctx, func(tx pgx.Tx) error { return batch[i].Item.fn(ctx, tx) })
		}
		return errs
	}
	if err != nil {
		for i := range errs {
			errs[i] = err // nothing of the group was committed
		}
	}
	return errs
}

// retryAlone says whether a group's failure is one its writers may not
// meet alone.
func retryAlone(err error) bool {
	switch pgCode(err) {
	case "40P01", "40001": // deadlock_detected, serialization_failure
		return true
	}
	return false
}

// errWriterFailed ends a group's run without savepoints at the first
// writer's failure (recorded in errs).
var errWriterFailed = errors.New("postgres: a writer of the group failed")

// runGroup runs the writers in tx in the given order, each one's outcome
// in errs. With isolate, each runs under a savepoint and a failure undoes
// its own writes only; without, the first failure ends the run.
func runGroup(ctx context.Context, tx pgx.Tx, batch []*store.GroupOp[groupWrite], order []int, errs []error, isolate bool) error {
	jt, _ := tx.(*jobTx)
	for _, i := range order {
		op := batch[i]
		if errs[i] = op.Ctx.Err(); errs[i] != nil {
			continue
		}
		if !isolate {
			if errs[i] = op.Item.fn(ctx, tx); errs[i] != nil {
				return errWriterFailed
			}
			continue
		}
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return fmt.Errorf("postgres: savepoint: %w", err)
		}
		inner := &jobTx{Tx: sp}
		if errs[i] = op.Item.fn(ctx, inner); errs[i] != nil {
			if err := sp.Rollback(ctx); err != nil { // its jobs go with its writes
				return fmt.Errorf("postgres: roll back to savepoint: %w", err)
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("postgres: release savepoint: %w", err)
		}
		if jt != nil {
			jt.queues = append(jt.queues, inner.queues...)
		}
	}
	return nil
}
