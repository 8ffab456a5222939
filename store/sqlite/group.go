package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
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
	lead chan struct{} // this writer is to commit the next group
}

// groups is the queue of writers waiting for a group commit.
type groups struct {
	mu      sync.Mutex
	pending []*groupOp
	leading bool          // a writer is committing a group
	closed  bool          // the store is closing: no more writers
	idle    chan struct{} // closed when the last group of a closed store is done
}

// inGroup runs fn in a group commit: one transaction with the other
// writers waiting, returning once it is committed, and on disk when sync
// is durable (a group with any durable writer is durable). SQLite has one
// writer, and one fsync for many small writes is what lets appends,
// replies and deliveries keep up with each other.
//
// The writer that finds no group being committed commits one itself, with
// whoever is waiting by then; writers that come meanwhile wait, and the
// oldest of them commits the next group when this one is done. A lone
// writer thus runs on its own goroutine: handing every write to a
// committer goroutine and back cost two wake-ups across cores per write.
//
// A failing fn undoes its own writes and no one else's. fn gets a context
// of the group's, not the caller's: a caller going away must not roll back
// the others' writes, and once queued it waits for the outcome, since the
// write may be committed and the caller must not guess.
func (db *DB) inGroup(ctx context.Context, sync bool, fn func(ctx context.Context, tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &groupOp{ctx: ctx, sync: sync, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g := &db.groups
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errStoreClosed
	}
	g.pending = append(g.pending, op)
	if g.leading {
		g.mu.Unlock()
		select {
		case err := <-op.done:
			return err
		case <-op.lead:
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.pending[:min(len(g.pending), maxGroup)]
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()

	db.leadGroup(batch)

	g.mu.Lock()
	switch {
	case len(g.pending) > 0:
		g.pending[0].lead <- struct{}{}
	case g.closed:
		g.leading = false
		close(g.idle)
	default:
		g.leading = false
	}
	if len(g.pending) == 0 {
		g.pending = nil // let the last batch's writers go
	}
	g.mu.Unlock()
	return <-op.done
}

// leadGroup commits batch on the calling writer's goroutine. A panic in a
// writer still ends the process, as it did when a goroutine of the store's
// committed the groups: recovered up the caller's stack (an HTTP handler,
// a job), it would leave the writer's transaction open and every later
// write waiting for it.
func (db *DB) leadGroup(batch []*groupOp) {
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack()
			go panic(fmt.Sprintf("sqlite: a writer of a group commit panicked: %v\n%s", p, stack))
			select {} // the panic above ends the process
		}
	}()
	db.commitGroup(batch)
}

// closeGroups refuses writers from now on and waits for the groups
// already begun.
func (db *DB) closeGroups() {
	g := &db.groups
	g.mu.Lock()
	g.closed = true
	g.idle = make(chan struct{})
	if !g.leading {
		close(g.idle)
	}
	idle := g.idle
	g.mu.Unlock()
	<-idle
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
