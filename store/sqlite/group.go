package sqlite

import (
	"context"
	"errors"

	"github.com/parley-chat/parley/store"
)

// maxGroup bounds one group commit: big enough to amortise the fsync, small
// enough that the first writer in a group does not wait long for the last.
const maxGroup = 256

// groupWrite is one writer's part of a group commit.
type groupWrite struct {
	sync bool // durable or redoable (see inTx)
	fn   func(ctx context.Context, tx *Tx) error
}

// inGroup runs fn in a group commit (store.Group): one transaction with
// the other writers waiting, returning once it is committed, and on disk
// when sync is durable (a group with any durable writer is durable).
// SQLite has one writer, and one fsync for many small writes is what lets
// appends, replies and deliveries keep up with each other.
//
// A failing fn undoes its own writes and no one else's. fn gets a context
// of the group's, not the caller's: a caller going away must not roll back
// the others' writes.
func (db *DB) inGroup(ctx context.Context, sync bool, fn func(ctx context.Context, tx *Tx) error) error {
	err := db.groups.Do(ctx, groupWrite{sync: sync, fn: fn})
	if errors.Is(err, store.ErrClosed) {
		return errStoreClosed
	}
	return err
}

func (db *DB) commitGroup(batch []*store.GroupOp[groupWrite]) []error {
	errs := make([]error, len(batch))
	// The group's statements run under a context that cannot end: the
	// driver watches a cancellable one with a goroutine per statement
	// (hundreds per group), and a group waits on nothing but SQLite, whose
	// lock waits end with its busy timeout.
	ctx := context.Background()
	sync := redoable
	for _, op := range batch {
		sync = sync || op.Item.sync
	}
	// A writer rarely fails (a conflict, a conversation gone), and a
	// savepoint around each one added two statements to the three to five
	// of an append or a reply: the group runs without them first. If a
	// writer fails, that run is rolled back and the group runs again with
	// each writer under a savepoint, its failure undoing its writes alone;
	// a group of one has nothing to keep.
	err := db.inTx(ctx, sync, func(tx *Tx) error { return runGroup(ctx, tx, batch, errs, false) })
	if errors.Is(err, errWriterFailed) {
		err = nil // a group of one: its writer's error is its outcome
		if len(batch) > 1 {
			err = db.inTx(ctx, sync, func(tx *Tx) error { return runGroup(ctx, tx, batch, errs, true) })
		}
	}
	if err != nil {
		for i := range errs {
			errs[i] = err // nothing of the group was committed
		}
	}
	return errs
}

// errWriterFailed ends a group's run without savepoints at the first
// writer's failure (recorded in errs).
var errWriterFailed = errors.New("sqlite: a writer of the group failed")

// runGroup runs the batch's writers in tx, each writer's outcome in errs.
// With isolate, each runs under a savepoint and a failure undoes its own
// writes only; without, the first failure ends the run (errWriterFailed).
func runGroup(ctx context.Context, tx *Tx, batch []*store.GroupOp[groupWrite], errs []error, isolate bool) error {
	for i, op := range batch {
		if errs[i] = op.Ctx.Err(); errs[i] != nil {
			continue
		}
		if !isolate {
			if errs[i] = op.Item.fn(ctx, tx); errs[i] != nil {
				return errWriterFailed
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			return err
		}
		jobs := len(tx.jobs)
		if errs[i] = op.Item.fn(ctx, tx); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
				return err
			}
			tx.jobs = tx.jobs[:jobs] // its jobs go with its writes
		}
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			return err
		}
	}
	return nil
}

var errStoreClosed = errors.New("sqlite: store closed")
