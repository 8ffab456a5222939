package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rowQuerier reads one row: the pool, outside a transaction, or a
// transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batchTx is a transaction that sends its BEGIN with its first batch and
// can send its COMMIT with its last (commitIn), or with its last query
// (commitWithQuery). pgx's own Tx sends each in a round trip of its own,
// and under many small transactions round trips, more than the statements
// in them, are what PostgreSQL's CPU goes to (docs/performance.md). A
// statement that is not a batch, first, is preceded by a BEGIN of its own,
// as with pgx's Tx.
type batchTx struct {
	conn  *pgx.Conn
	begun bool // BEGIN sent

	commitNext bool  // the next Query sends the COMMIT with it (commitWithQuery)
	commitSent bool  // it did: Commit reports its outcome, and sends nothing
	commitErr  error // that outcome
}

var _ pgx.Tx = (*batchTx)(nil)

func (t *batchTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	if _, err := t.conn.Exec(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	t.begun = true
	return nil
}

// SendBatch sends b, after a BEGIN in the same round trip when it is the
// transaction's first.
func (t *batchTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !t.begun {
		t.begun = true
		first := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
		first.Queue("BEGIN")
		first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
		b = first
	}
	return t.conn.SendBatch(ctx, b)
}

// commitIn queues the transaction's COMMIT at the end of b, its last
// batch: once b has run without error, the transaction is committed and
// Commit has nothing left to do. A statement of b that fails leaves the
// COMMIT unrun (PostgreSQL skips the rest of a failed pipeline), and the
// transaction is rolled back as any other.
func commitIn(tx pgx.Tx, b *pgx.Batch) {
	if _, ok := batchOf(tx); !ok {
		return
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error { return committed(tag, nil) })
}

// batchOf is the batchTx tx is, or wraps (jobTx).
func batchOf(tx pgx.Tx) (*batchTx, bool) {
	if jt, ok := tx.(*jobTx); ok {
		tx = jt.Tx
	}
	bt, ok := tx.(*batchTx)
	return bt, ok
}

// committed is the outcome of a COMMIT that answered tag and err: a
// transaction already failed commits as ROLLBACK.
func committed(tag pgconn.CommandTag, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("postgres: commit: %w", err)
	case tag.String() != "COMMIT":
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// commitWithQuery has the transaction's River job insert, its last
// statement, send the COMMIT in the same round trip: only River's client
// sends that statement (InsertManyTx), so the transaction sends the COMMIT
// after it. The COMMIT's outcome is the insert's rows' Err once they are
// read, and Commit's. Any other query (River may read before it inserts)
// runs as usual; a statement sent after the insert runs on its own,
// outside the transaction (River's insert notification, when it sends
// one).
func commitWithQuery(tx pgx.Tx) {
	if bt, ok := batchOf(tx); ok {
		bt.commitNext = true
	}
}

// open says whether a transaction is open on the connection: begun, and
// neither committed in a batch (commitIn) nor ended by the server.
func (t *batchTx) open() bool {
	return t.begun && t.conn.PgConn().TxStatus() != 'I'
}

// Commit commits the transaction, if commitIn or commitWithQuery has not;
// if commitWithQuery has, it returns that COMMIT's outcome.
func (t *batchTx) Commit(ctx context.Context) error {
	if t.commitSent {
		return t.commitErr
	}
	if !t.open() {
		return nil
	}
	return committed(t.conn.Exec(ctx, "COMMIT"))
}

// Rollback rolls the transaction back, if it is open.
func (t *batchTx) Rollback(ctx context.Context) error {
	if !t.open() {
		return nil
	}
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		return fmt.Errorf("postgres: rollback: %w", err)
	}
	return nil
}

// Begin would start a nested transaction (a savepoint): Parley's
// transactions do not nest.
func (t *batchTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("postgres: nested transactions are not supported")
}

func (t *batchTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, rows)
}

// LargeObjects is not for use: Parley stores no large objects, and pgx
// builds them only on its own Tx.
func (t *batchTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *batchTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Prepare(ctx, name, sql)
}

func (t *batchTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *batchTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	if !t.commitNext || !strings.Contains(sql, riverJobInsert) {
		return t.conn.Query(ctx, sql, args...)
	}
	t.commitNext, t.commitSent = false, true
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		_ = br.Close() // the rest of the pipeline was skipped: its error is this one
		t.commitErr = err
		return nil, err
	}
	return &committingRows{Rows: rows, tx: t, br: br}, nil
}

// riverJobInsert marks River's job insert in its statement's text (River's
// queries are named in a comment). Should River rename it, the COMMIT is
// sent by Commit, as for any transaction.
const riverJobInsert = "name: JobInsertFastMany "

// committingRows are a query's rows followed by its transaction's COMMIT
// (commitWithQuery): once the rows are read (Next has said there are no
// more, or Close), the COMMIT's outcome is read too, and is Err's unless
// the query failed first.
type committingRows struct {
	pgx.Rows
	tx   *batchTx
	br   pgx.BatchResults
	done bool
	err  error
}

func (r *committingRows) Next() bool {
	if r.done {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *committingRows) Close() { r.finish() }

func (r *committingRows) Err() error {
	if r.done {
		return r.err
	}
	return r.Rows.Err()
}

// finish closes the rows and reads the COMMIT's outcome: a COMMIT that a
// failed transaction ran as ROLLBACK is an error, as in commitIn; a query
// that failed left the COMMIT unrun (PostgreSQL skips the rest of a failed
// pipeline), and the transaction is rolled back as any other.
func (r *committingRows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	if r.err = r.Rows.Err(); r.err != nil {
		_ = r.br.Close() // the COMMIT was skipped: its error is this one
	} else {
		r.err = errors.Join(committed(r.br.Exec()), r.br.Close())
	}
	r.tx.commitErr = r.err
}

func (t *batchTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.begin(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *batchTx) Conn() *pgx.Conn { return t.conn }

// errRow is a row whose read failed before it was sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// genericPlans, a select list's item, has the statements after it in its
// transaction run on their prepared statements' generic plans. By
// default PostgreSQL plans a statement again at each run while a plan for
// its parameters' values looks cheaper than the generic one, which for a
// statement over an array (unnest, = ANY) or after a cursor it always
// does: the group's and a reply's statements then spent more time being
// planned than running (docs/performance.md). Each of them reads or
// writes by a key, which the generic plan uses as well; a statement whose
// best plan depends on its values (a search) is not sent after it.
const genericPlans = `set_config('plan_cache_mode', 'force_generic_plan', true)`
