package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// ErrClosed is a write refused because its store is closing.
var ErrClosed = errors.New("store: closed")

// GroupOp is one writer's part of a group commit.
type GroupOp[T any] struct {
	Ctx  context.Context // the caller's: skipped if it has gone by its turn
	Item T
	done chan error
	lead chan struct{} // this writer is to commit the next group
}

// Group gathers concurrent writers into group commits: one transaction
// and one flush to disk for many small writes, which is what lets a store
// take more writes per second than it can flush. Both engines commit
// their writes through one.
//
// The writer that finds no group being committed commits one itself
// (Commit on its own goroutine), with whoever is waiting by then; writers
// that come meanwhile wait, and the oldest of them commits the next group
// when this one is done. A lone writer thus pays no hand-off: giving every
// write to a committer goroutine and back cost two wake-ups across cores.
//
// Once queued, a writer waits for its outcome even when its context ends,
// since the write may be committed and the caller must not guess; Commit
// skips the writers whose context has ended by their turn.
type Group[T any] struct {
	// Max bounds a group: big enough to amortise the flush, small enough
	// that the first writer does not wait long for the last.
	Max int
	// Commit commits a group and returns each writer's outcome, in order.
	Commit func(batch []*GroupOp[T]) []error

	mu      sync.Mutex
	pending []*GroupOp[T]
	leading bool          // a writer is committing a group
	closed  bool          // no more writers
	idle    chan struct{} // closed when the last group of a closed store is done
}

// Do runs item in a group commit and returns its outcome.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &GroupOp[T]{Ctx: ctx, Item: item, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
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
	batch := g.pending[:min(len(g.pending), max(1, g.Max))]
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()

	g.lead(batch)

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

// lead commits batch on the calling writer's goroutine. A panic in Commit
// still ends the process, as it would on a committer goroutine: recovered
// up the caller's stack (an HTTP handler, a job), it would leave the
// group's transaction open and every later writer waiting for it.
func (g *Group[T]) lead(batch []*GroupOp[T]) {
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack()
			go panic(fmt.Sprintf("store: a group commit panicked: %v\n%s", p, stack))
			select {} // the panic above ends the process
		}
	}()
	errs := g.Commit(batch)
	for i, op := range batch {
		op.done <- errs[i]
	}
}

// Close refuses writers from now on and waits for the groups already
// begun.
func (g *Group[T]) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.idle = make(chan struct{})
	if !g.leading {
		close(g.idle)
	}
	idle := g.idle
	g.mu.Unlock()
	<-idle
}

// Waiting is how many writers wait for a group.
func (g *Group[T]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// Closed says whether Close has been called.
func (g *Group[T]) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}
