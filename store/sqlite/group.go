package sqlite

import (
	"context"
	"errors"
)

// maxGroup bounds one group commit: big enough to amortise the fsync, small
// enough that the first writer in a group does not wait long for the last.
const maxGroup = 256

// groupOp is one writer's part of a group commit.
type groupOp struct {
	ctx  context.Context // the caller's: skipped if it has gone by its turn
	sync bool            // durable or redoable (see inTx)
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
}

// inGroup runs fn in the group committer's next transaction, together with
// the other writers waiting, and returns once that transaction is
// committed, and on disk when sync is durable (a group with any durable
// writer is durable):
// SQLite has one writer, and one fsync for many small writes is what lets
// appends, replies and deliveries keep up with each other. fn runs under a
// savepoint, so its failure undoes its own writes and no one else's. fn
// gets the group's context, not the caller's: a caller going away must not
// roll back the others' writes, and once queued it waits for the outcome,
// since the write may be committed and the caller must not guess.
func (db *DB) inGroup(ctx context.Context, sync bool, fn func(ctx context.Context, tx *Tx) error) error {
	op := &groupOp{ctx: ctx, sync: sync, fn: fn, done: make(chan error, 1)}
	select {
	case db.group <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.done
}

// runGroups is the group committer: it takes every writer waiting, runs
// them in one transaction and answers them all after the commit.
func (db *DB) runGroups(ctx context.Context) {
	batch := make([]*groupOp, 0, maxGroup)
	for {
		select {
		case <-ctx.Done():
			db.failQueued(errStoreClosed)
			return
		case op := <-db.group:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < maxGroup {
			select {
			case op := <-db.group:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		db.commitGroup(batch)
	}
}

func (db *DB) failQueued(err error) {
	for {
		select {
		case op := <-db.group:
			op.done <- err
		default:
			return
		}
	}
}

func (db *DB) commitGroup(batch []*groupOp) {
	errs := make([]error, len(batch))
	// The group's statements run under a context that cannot end: the
	// driver watches a cancellable one with a goroutine per statement
	// (hundreds per group), and a group waits on nothing but SQLite, whose
	// lock waits end with its busy timeout.
	ctx := context.Background()
	sync := redoable
	for _, op := range batch {
		sync = sync || op.sync
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
	for i, op := range batch {
		if err != nil {
			op.done <- err // nothing of the group was committed
			continue
		}
		op.done <- errs[i]
	}
}

// errWriterFailed ends a group's run without savepoints at the first
// writer's failure (recorded in errs).
var errWriterFailed = errors.New("sqlite: a writer of the group failed")

// runGroup runs the batch's writers in tx, each writer's outcome in errs.
// With isolate, each runs under a savepoint and a failure undoes its own
// writes only; without, the first failure ends the run (errWriterFailed).
func runGroup(ctx context.Context, tx *Tx, batch []*groupOp, errs []error, isolate bool) error {
	for i, op := range batch {
		if errs[i] = op.ctx.Err(); errs[i] != nil {
			continue
		}
		if !isolate {
			if errs[i] = op.fn(ctx, tx); errs[i] != nil {
				return errWriterFailed
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			return err
		}
		jobs := len(tx.jobs)
		if errs[i] = op.fn(ctx, tx); errs[i] != nil {
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
