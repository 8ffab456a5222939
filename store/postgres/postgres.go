// Package postgres is Parley's scale-out store: PostgreSQL through pgx, shared
// by any number of stateless parley replicas. Writers run concurrently; a row
// lock on the conversation serialises appends to one conversation so that
// sequence numbers have no gaps, and PostgreSQL's own group commit shares
// fsyncs between concurrent transactions.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB provides every area of the store contract.
var _ parley.Store = (*DB)(nil)

// DB is the PostgreSQL store.
type DB struct {
	pool   *pgxpool.Pool
	kicker *store.Kicker
	logger *slog.Logger

	queue     *river.Client[pgx.Tx]
	queueOpts QueueOptions

	replyLease time.Duration
	searchScan int64
	closing    chan struct{}  // closed by Close: reply leases stop renewing
	renewing   sync.WaitGroup // reply lease renewals running
	held       sync.Map       // conversation id → *heldLease: the reply leases this process holds

	groups [groupShards]store.Group[*groupOp] // appends and replies waiting for a group commit

	hub        *live.Hub
	stopListen context.CancelFunc
	listening  chan struct{}

	replicaID  string      // this process's, among the replicas
	deltas     deltaSender // reply pieces for the other replicas
	eventNotes eventNotes  // conversations with committed events, to announce
	stopSend   context.CancelFunc

	// direct reaches PostgreSQL itself, for what needs a session of its
	// own (the migrations' lock, LISTEN): the pool's own config, or
	// Options.DirectURL's when the pool goes through a pooler (pooled).
	direct *pgx.ConnConfig
	pooled bool
}

// Options tune a store; the zero value is the production default.
type Options struct {
	Logger *slog.Logger
	// Schema, when set, puts every table in that schema (created if needed).
	// Tests use one schema each so that they can run in parallel.
	Schema string
	Queue  QueueOptions
	// Hub, when set, hears of every replica's new events and deltas
	// (LISTEN/NOTIFY).
	Hub *live.Hub
	// DirectURL, when set, says that the URL given to Open is a connection
	// pooler in transaction mode (PgBouncer's pool_mode = transaction) and
	// reaches PostgreSQL itself. Through the pooler go all statements, as
	// unnamed ones (a pooler in transaction mode cannot keep named ones)
	// whose parameter types pgx describes once and caches (its
	// cache_describe mode) unless the URL sets default_query_exec_mode; the
	// job queue polls instead of LISTENing.
	// To DirectURL go what needs a session of its own: the migrations,
	// under their advisory lock, and one LISTEN connection per replica for
	// the event streams. Schema cannot be used with it (a pooler does not
	// pass search_path on): give the pooler a database of its own.
	DirectURL string
	// ReplyLease is how long a conversation's reply lease lasts without
	// renewal: how long the conversation waits when a replica dies while
	// replying. Default 15 s.
	ReplyLease time.Duration
	// SearchScan is the longest conversation that a search within it
	// (SearchMessages) reads in one pass over its rows; a longer one is
	// searched word by word through the full-text index. Default 5,000.
	SearchScan int
}

// defaultPoolSize is the connection pool's size unless the URL sets
// pool_max_conns: four connections per core of this replica, at least
// eight. More is slower, not faster: a statement waiting for a pooled
// connection costs less than one more backend competing for PostgreSQL's
// cores (docs/performance.md has the measurements). Eight rather than four
// leaves room for a few slow statements (a tenant-wide search) without
// stalling every reply. Nothing holds a connection for long (reply
// leases are rows, not sessions; the two listening sessions leave the
// pool), and replicas of two cores each take 10 of PostgreSQL's default
// 100 connections, listeners included.
func defaultPoolSize() int32 { return int32(max(8, 4*runtime.GOMAXPROCS(0))) }

// Open connects to PostgreSQL and migrates the database.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	direct := cfg.ConnConfig
	if opts.DirectURL != "" {
		if opts.Schema != "" {
			return nil, errors.New("postgres: a schema cannot be used through a pooler (DirectURL): give it a database of its own")
		}
		dc, err := pgx.ParseConfig(opts.DirectURL)
		if err != nil {
			return nil, fmt.Errorf("postgres: parse direct url: %w", err)
		}
		direct = dc
		if !strings.Contains(url, "default_query_exec_mode") {
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		}
	}
	if opts.Schema != "" {
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{opts.Schema}.Sanitize())
		conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("postgres: create schema: %w", err)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultPoolSize()
	}
	// A database that does not answer (a stalled network) fails a new
	// connection in seconds instead of holding the request that needs it.
	for _, c := range []*pgx.ConnConfig{cfg.ConnConfig, direct} {
		if c.ConnectTimeout == 0 {
			c.ConnectTimeout = 5 * time.Second
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool, logger: opts.Logger, queueOpts: opts.Queue, replyLease: cmp.Or(opts.ReplyLease, 15*time.Second),
		searchScan: int64(cmp.Or(opts.SearchScan, 5000)),
		closing:    make(chan struct{}), direct: direct, pooled: opts.DirectURL != "", replicaID: parley.NewID(),
		deltas:     deltaSender{kick: make(chan struct{}, 1), done: make(chan struct{})},
		eventNotes: eventNotes{pending: map[string]bool{}, kick: make(chan struct{}, 1), done: make(chan struct{})}}
	for i := range db.groups {
		db.groups[i].Max, db.groups[i].Commit = maxGroup, db.commitGroup
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.kicker = store.NewKicker()
	if db.queue, err = newQueue(pool, opts, db.kicker); err != nil {
		pool.Close()
		return nil, err
	}
	sendCtx, stopSend := context.WithCancel(context.Background())
	db.stopSend = stopSend
	go db.sendDeltas(sendCtx)
	go db.sendEventNotes(sendCtx)
	if opts.Hub != nil {
		db.hub = opts.Hub
		listenCtx, cancel := context.WithCancel(context.Background())
		db.stopListen, db.listening = cancel, make(chan struct{})
		go func() { defer close(db.listening); db.listen(listenCtx) }()
	}
	return db, nil
}

// migrationLock is the advisory lock key that serialises migrations when
// several replicas start at once.
const migrationLock = 0x70617231 // "par1"

func (db *DB) migrate(ctx context.Context) error {
	pool := db.pool
	if db.pooled {
		// Through a pooler the lock's session would not be the migrations':
		// a small pool of direct sessions, for the migrations only.
		cfg, err := pgxpool.ParseConfig("")
		if err != nil {
			return fmt.Errorf("postgres: direct pool: %w", err)
		}
		cfg.ConnConfig, cfg.MaxConns = db.direct, 2
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return fmt.Errorf("postgres: connect directly: %w", err)
		}
		defer pool.Close()
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: lock migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // released with the session anyway
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	provider, err := migrationProvider(sqlDB)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// The job queue's tables live in the same database (and schema), so that
	// jobs are inserted in the same transaction as the data they follow.
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: db.logger})
	if err != nil {
		return fmt.Errorf("postgres: queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("postgres: migrate queue: %w", err)
	}
	for _, name := range store.UnqueriedJobIndexes() {
		if _, err := conn.Exec(ctx, `DROP INDEX IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: drop the job queue's index %s: %w", name, err)
		}
	}
	return nil
}

// migrationProvider runs the schema's migrations: the SQL files, and the
// ones in Go that need the server's own rules.
func migrationProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithGoMigrations(goose.NewGoMigration(11, &goose.GoFunc{RunTx: indexContent}, nil)))
}

// Pool is the connection pool, shared with River.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool.
func (db *DB) Close() error {
	if db.queueOpts.Working() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = db.queue.Stop(stopCtx) // jobs cut short are retried: they are durable
		cancel()
	}
	for i := range db.groups {
		db.groups[i].Close()
	}
	if db.stopListen != nil {
		db.stopListen()
		<-db.listening
	}
	db.stopSend()
	<-db.deltas.done
	<-db.eventNotes.done
	flushCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	db.sendEventNotesOnce(flushCtx) // the last commits' news
	cancel()
	close(db.closing)
	db.renewing.Wait()
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// withTx runs fn in a transaction (batchTx); once it commits, the queues
// of the jobs fn inserted (enqueue) are kicked.
func (db *DB) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire connection: %w", err)
	}
	defer c.Release() // a connection left in a transaction is closed, not reused
	bt := &batchTx{conn: c.Conn()}
	jt := &jobTx{Tx: bt}
	if err = fn(jt); err != nil {
		_ = bt.Rollback(ctx)
	} else {
		err = bt.Commit(ctx)
	}
	queues, conversations := jt.queues, jt.events
	if err == nil && len(queues) > 0 {
		db.kicker.Kick(queues)
	}
	if err == nil && len(conversations) > 0 {
		db.notifyEvents(conversations)
	}
	return err
}

// jobTx is a transaction that remembers the queues of the jobs inserted in
// it.
type jobTx struct {
	pgx.Tx
	queues []string
	events []string // conversations with new events, notified after the commit
}

// enqueue inserts a job in tx.
func (db *DB) enqueue(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	jt, ok := tx.(*jobTx)
	if ok {
		tx = jt.Tx
	}
	res, err := db.queue.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return err
	}
	if ok {
		jt.queues = append(jt.queues, res.Job.Queue)
	}
	return nil
}

// enqueueMany inserts jobs in tx in one statement.
func (db *DB) enqueueMany(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
	jt, ok := tx.(*jobTx)
	if ok {
		tx = jt.Tx
	}
	res, err := db.queue.InsertManyTx(ctx, tx, jobs)
	if err != nil {
		return err
	}
	if ok {
		for _, r := range res {
			jt.queues = append(jt.queues, r.Job.Queue)
		}
	}
	return nil
}

// Unavailable says whether err means the database cannot be reached or is
// shutting down (not that the request was wrong): the API answers 503 with
// Retry-After, and a replica's readiness fails until it is back.
func (db *DB) Unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch code := pgCode(err); {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, pgconn.ErrConnClosed): // a pooled connection the server ended (a restart)
		return true
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57P"): // connection exceptions, shutdowns
		return true
	}
	return pgconn.Timeout(err)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool     { return pgCode(err) == "23505" }
func isForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
