package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/riverqueue/river"
)

// maxCachedStmts bounds the statement cache. Parley's SQL is a fixed set of
// texts plus a few filter combinations; a text past the bound (a query
// built from an unusual mix of filters) runs one-shot instead.
const maxCachedStmts = 512

// stmtCache keeps one prepared statement per query text. modernc.org/sqlite
// parses and plans a query on every one-shot call, and for the small
// indexed queries Parley makes that costs more than running them (a third
// of all CPU in the reply benchmark). A *sql.Stmt is prepared once on each
// connection that runs it and reused from then on.
//
// Preparing needs a connection of its own. A transaction holds one of the
// pool's connections (the write pool's only one), so a statement is never
// prepared while a transaction waits on it: a transaction's miss runs
// one-shot and is prepared after the transaction ends. Nor is the mutex
// held while preparing, which would stall every transaction's lookups
// behind a connection that one of them holds.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// lookup returns the statement of query, or nil when it is not prepared.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// get returns the statement of query, preparing it on first use. It
// returns nil when the cache is full: the caller runs the query one-shot.
// The caller must not be inside a transaction of the same pool.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := c.lookup(query); st != nil {
		return st, nil
	}
	c.mu.RLock()
	full := len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if full {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[query]; prev != nil { // prepared meanwhile by another caller
		st.Close()
		return prev, nil
	}
	if len(c.m) >= maxCachedStmts {
		st.Close()
		return nil, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// handle is a database handle whose queries go through its statement
// cache. Its methods shadow those of *sql.DB, so call sites read as plain
// database/sql.
type handle struct {
	*sql.DB
	stmts *stmtCache
}

func newHandle(db *sql.DB) handle { return handle{DB: db, stmts: newStmtCache(db)} }

func (h handle) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, err := h.stmts.get(ctx, query); err == nil && st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return h.DB.QueryRowContext(ctx, query, args...) // one-shot; reports any prepare error itself
}

func (h handle) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := h.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return h.DB.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (h handle) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := h.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return h.DB.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// BeginTx starts a transaction whose queries use the handle's statements.
func (h handle) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := h.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, stmts: h.stmts}, nil
}

// beginDurable begins a write transaction whose commit reaches the disk
// before it returns (synchronous=FULL). The writer's connection is opened
// with synchronous=NORMAL, so that the job queue's own bookkeeping (a job
// fetched, a job completed) commits without an fsync of its own: lost to a
// power cut, it only makes a job run again, which every job tolerates. A
// durable commit flushes the log, and with it every commit before it. The
// connection is pinned for the transaction, so that the setting cannot
// leak to another transaction; a failure to set it back leaves it FULL,
// the safe side.
func (h handle) beginDurable(ctx context.Context) (*Tx, error) {
	conn, err := h.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		conn.Close()
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`)
		conn.Close()
		return nil, err
	}
	return &Tx{Tx: tx, conn: conn, stmts: h.stmts}, nil
}

func (h handle) Close() error { return errors.Join(h.stmts.close(), h.DB.Close()) }

// Tx is a transaction whose queries go through the statement cache of the
// handle that began it. The embedded *sql.Tx is what River's InsertTx
// takes.
type Tx struct {
	*sql.Tx
	conn   *sql.Conn                // pinned by beginDurable
	jobs   []river.InsertManyParams // queued by enqueue, inserted at commit
	stmts  *stmtCache
	missed []string // queries to prepare once the connection is free
}

func (tx *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	st := tx.stmts.lookup(query)
	if st == nil {
		tx.missed = append(tx.missed, query)
		return nil
	}
	return tx.Tx.StmtContext(ctx, st)
}

// Commit commits, then prepares the statements the transaction missed.
func (tx *Tx) Commit() error {
	err := tx.Tx.Commit()
	tx.end()
	return err
}

// Rollback rolls back, then prepares the statements the transaction missed.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.end()
	return err
}

// end gives back a pinned connection, then prepares what was missed (which
// needs the connection).
func (tx *Tx) end() {
	if tx.conn != nil {
		_, _ = tx.conn.ExecContext(context.Background(), `PRAGMA synchronous = NORMAL`)
		tx.conn.Close()
		tx.conn = nil
	}
	tx.prepareMissed()
}

func (tx *Tx) prepareMissed() {
	for _, q := range tx.missed {
		// A failed prepare is only a missed optimisation: the query runs
		// one-shot next time and reports its own error there.
		_, _ = tx.stmts.get(context.Background(), q)
	}
	tx.missed = nil
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}
