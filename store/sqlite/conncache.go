package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// The writer's connection keeps its one-shot statements prepared. The job
// queue (River) runs every query one-shot through database/sql, and the
// driver parses each one again: a third of the single writer's time went
// to parsing River's few dozen statements, over and over. Parley's own
// queries have their statement cache (stmt.go), which works through
// database/sql's Stmt; this one works below database/sql, for queries it
// cannot reach.

// maxCachedStatements bounds the statements one connection keeps; the
// least recently used goes first. Query texts built at run time (River's
// batch updates are written for their batch size) come and go.
const maxCachedStatements = 128

// cachingConnector opens driver connections that keep their statements.
type cachingConnector struct {
	driver.Connector
}

func newCachingConnector(dsn string) (driver.Connector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{c}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: conn, stmts: map[string]*list.Element{}}, nil
}

// driverConn is what the SQLite driver's connections provide.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// cachingConn is a driver connection whose QueryContext and ExecContext
// run on kept statements. database/sql uses a connection from one
// goroutine at a time, so the map needs no lock; a statement whose rows
// are still open is busy, and a query of the same text meanwhile runs
// one-shot.
type cachingConn struct {
	driver.Conn
	stmts map[string]*list.Element // of *cachedStmt
	lru   list.List                // most recently used first
}

type cachedStmt struct {
	query string
	stmt  interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool
}

func (c *cachingConn) inner() driverConn { return c.Conn.(driverConn) }

// cached returns the kept statement of query, preparing it when new, or
// nil when the query is to run one-shot: a script of several statements
// (only the first would be prepared), a PRAGMA (SQLite applies a setting
// when it prepares one, so a kept one would do nothing when run again), a
// busy statement, a full cache.
func (c *cachingConn) cached(ctx context.Context, query string) *cachedStmt {
	if e, ok := c.stmts[query]; ok {
		s := e.Value.(*cachedStmt)
		if s.busy {
			return nil
		}
		c.lru.MoveToFront(e)
		return s
	}
	if !singleStatement(query) || isPragma(query) {
		return nil
	}
	st, err := c.inner().PrepareContext(ctx, query)
	if err != nil {
		return nil // the one-shot run reports the error
	}
	s := &cachedStmt{query: query}
	var ok bool
	if s.stmt, ok = st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}); !ok {
		st.Close()
		return nil
	}
	for e := c.lru.Back(); e != nil && c.lru.Len() >= maxCachedStatements; {
		old, prev := e.Value.(*cachedStmt), e.Prev()
		if !old.busy {
			old.stmt.Close()
			delete(c.stmts, old.query)
			c.lru.Remove(e)
		}
		e = prev
	}
	c.stmts[query] = c.lru.PushFront(s)
	return s
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if s := c.cached(ctx, query); s != nil {
		return s.stmt.ExecContext(ctx, args)
	}
	return c.inner().ExecContext(ctx, query, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.cached(ctx, query)
	if s == nil {
		return c.inner().QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, stmt: s}, nil
}

// cachedRows frees its statement when closed.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner().BeginTx(ctx, opts)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner().PrepareContext(ctx, query)
}

func (c *cachingConn) ResetSession(ctx context.Context) error { return c.inner().ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.inner().IsValid() }
func (c *cachingConn) Ping(ctx context.Context) error         { return c.inner().Ping(ctx) }

func (c *cachingConn) Close() error {
	for _, e := range c.stmts {
		e.Value.(*cachedStmt).stmt.Close()
	}
	c.stmts = nil
	c.lru.Init()
	return c.Conn.Close()
}

// singleStatement tells whether query holds one statement: no semicolon
// outside comments, quotes and identifiers is followed by more SQL. (The
// driver prepares a script's statements again on every run.)
func singleStatement(query string) bool {
	ended := false // a statement-ending semicolon was seen
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				return true
			}
			i += end
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return true
			}
			i += 2 + end + 1
		case c == '\'' || c == '"' || c == '`' || c == '[':
			if ended {
				return false
			}
			closing := c
			if c == '[' {
				closing = ']'
			}
			end := strings.IndexByte(query[i+1:], closing)
			if end < 0 {
				return true // unterminated: the driver reports it
			}
			i += 1 + end // a doubled quote is two quoted runs: the same
		case c == ';':
			ended = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		default:
			if ended {
				return false
			}
		}
	}
	return true
}

// isPragma tells whether query is a PRAGMA (after comments and space).
func isPragma(query string) bool {
	q := strings.TrimSpace(query)
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") {
		if strings.HasPrefix(q, "--") {
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return false
			}
			q = strings.TrimSpace(q[end:])
		} else {
			end := strings.Index(q, "*/")
			if end < 0 {
				return false
			}
			q = strings.TrimSpace(q[end+2:])
		}
	}
	return len(q) >= 6 && strings.EqualFold(q[:6], "pragma")
}
