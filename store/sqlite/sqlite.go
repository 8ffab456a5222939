// Package sqlite is Parley's embedded store: SQLite (modernc.org/sqlite, pure
// Go) in WAL mode in the data directory. It needs no other service.
//
// SQLite has one writer at a time, so the store keeps two handles: a writer
// with exactly one connection (River shares it, as its SQLite driver asks)
// and a pool of read-only connections. The frequent small writes (message
// appends, reply claims and replies, webhook attempts) from concurrent
// requests and jobs are committed together in one transaction (group
// commit): each still gets its answer only after its data is durable (or,
// for writes a job redoes when they are lost, committed), but the cost of a
// commit is shared by everyone waiting.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB provides every area of the store contract.
var _ parley.Store = (*DB)(nil)

// DB is the SQLite store.
type DB struct {
	write  handle  // one connection: SQLite has one writer
	read   handle  // read-only connections
	search handle  // read-only, memory-mapped: full-text search
	ckpt   *sql.DB // one connection: checkpoints the WAL into the database
	logger *slog.Logger
	// walRestartFrames is the WAL's size, in frames, from which checkpoint
	// restarts it; restartHeld the time (Unix ns) before which it does not
	// try again after a reader kept it from restarting.
	walRestartFrames int
	restartHeld      atomic.Int64

	groups store.Group[groupWrite] // writers waiting for a group commit

	queue     *river.Client[*sql.Tx]
	kicker    *store.Kicker
	queueOpts QueueOptions

	hub *live.Hub

	replyMu  sync.Mutex
	replying map[string]*byte // conversations with a reply being made: the lock's token
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Options tune a store; the zero value is the production default.
type Options struct {
	Logger *slog.Logger
	// IndexInterval is how often the search indexer looks for new messages
	// (see runIndexer). Default 200ms; negative: no indexer runs, and
	// whoever opened the store calls IndexPending (tests, tools).
	IndexInterval time.Duration
	// CheckpointInterval is how often the WAL is checkpointed into the
	// database. Default 250ms.
	CheckpointInterval time.Duration
	Queue              QueueOptions
	// Hub, when set, hears of every new event after its commit.
	Hub *live.Hub
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IndexInterval == 0 {
		opts.IndexInterval = 200 * time.Millisecond
	}
	if opts.CheckpointInterval == 0 {
		// At the reply benchmark's rate of writes, a few hundred pages
		// each time.
		opts.CheckpointInterval = 250 * time.Millisecond
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	// Every write of Parley's own commits with synchronous=FULL (withTx):
	// an acknowledged write survives power loss too, not only a crash of
	// the process; group commit pays for the fsync. The connection's
	// default, NORMAL, is what the job queue's bookkeeping commits with
	// (see beginDurable).
	//
	// Full-text search (across a tenant, and within a conversation for
	// recall) reads through a memory map of up to 1 GiB (the search
	// handle): the OS page cache shared by all connections, instead of a
	// read syscall per page, which makes large searches several times
	// faster and a recall's first read of a large index faster. Everything
	// else reads without one: while appends grow the file, mapped pages
	// fault in again and again, and a reply's point reads cost a third
	// more through the map. A bigger page cache per connection does not
	// pay: every commit empties the readers' caches. (docs/performance.md
	// has the measurements.)
	base := "file:" + url.PathEscape(path) + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	// The writer never checkpoints: a commit that crossed SQLite's
	// auto-checkpoint mark copied the WAL into the database and synced it
	// before returning, a stall of milliseconds for whichever append or
	// reply drew it. A connection of its own checkpoints in the background
	// (runCheckpoints) while the writer goes on appending to the WAL.
	connector, err := newCachingConnector(base + "&_txlock=immediate&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=journal_size_limit(67108864)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	write := sql.OpenDB(connector)
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	read.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)*2))
	search, err := sql.Open("sqlite", base+"&_pragma=query_only(1)&_pragma=mmap_size(1073741824)")
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: open search readers: %w", err)
	}
	search.SetMaxOpenConns(max(2, runtime.GOMAXPROCS(0)))
	search.SetMaxIdleConns(max(2, runtime.GOMAXPROCS(0)))

	// The checkpointer waits at most restartWait for the writer and the
	// readers when it must restart the WAL (checkpoint).
	ckpt, err := sql.Open("sqlite", base+fmt.Sprintf("&_pragma=busy_timeout(%d)", restartWait.Milliseconds()))
	if err != nil {
		write.Close()
		read.Close()
		search.Close()
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	ckpt.SetMaxOpenConns(1)

	db := &DB{write: newHandle(write), read: newHandle(read), search: newHandle(search), ckpt: ckpt, logger: opts.Logger,
		walRestartFrames: walRestartFrames}
	db.groups.Max, db.groups.Commit = maxGroup, db.commitGroup
	if err := db.migrate(ctx); err != nil {
		db.closeHandles()
		return nil, err
	}
	db.queueOpts = opts.Queue
	db.hub = opts.Hub
	db.kicker = store.NewKicker()
	if db.queue, err = newQueue(write, opts.Queue, opts, db.kicker); err != nil {
		db.closeHandles()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	db.stop = cancel
	db.wg.Add(1)
	go func() { defer db.wg.Done(); db.runCheckpoints(bg, opts.CheckpointInterval) }()
	if opts.IndexInterval > 0 {
		db.wg.Add(1)
		go func() { defer db.wg.Done(); db.runIndexer(bg, opts.IndexInterval) }()
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	provider, err := migrationProvider(db.write.DB)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// The job queue's tables live in the same database, so that jobs are
	// inserted in the same transaction as the data they follow.
	migrator, err := rivermigrate.New(riversqlite.New(db.write.DB), &rivermigrate.Config{Logger: db.logger})
	if err != nil {
		return fmt.Errorf("sqlite: queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("sqlite: migrate queue: %w", err)
	}
	return nil
}

// migrationProvider runs the schema's migrations: the SQL files, and the
// ones in Go that need the server's own rules.
func migrationProvider(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"),
		goose.WithGoMigrations(goose.NewGoMigration(12, &goose.GoFunc{RunTx: indexContent}, nil)))
}

// Writer is the single-connection handle that River must share.
func (db *DB) Writer() *sql.DB { return db.write.DB }

// Close stops the background loops and closes the database. Writes already
// waiting for a group commit are committed; later ones are answered with
// an error.
func (db *DB) Close() error {
	if db.queueOpts.Working() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = db.queue.Stop(stopCtx) // jobs cut short are retried: they are durable
		cancel()
	}
	db.groups.Close()
	db.stop()
	db.wg.Wait()
	return db.closeHandles()
}

func (db *DB) closeHandles() error {
	return errors.Join(db.ckpt.Close(), db.search.Close(), db.read.Close(), db.write.Close())
}

// runCheckpoints copies the WAL into the database file in the background.
// A passive checkpoint takes no lock that the writer or readers wait for:
// it copies what no reader still needs, and once it has copied everything
// the writer starts the WAL from its beginning again, so it stays small
// (journal_size_limit truncates one that a long read made grow). When the
// process stops, closing the last connection checkpoints what is left;
// after a crash, opening the database recovers the WAL.
func (db *DB) runCheckpoints(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := db.checkpoint(ctx); err != nil && ctx.Err() == nil {
			db.logger.Warn("checkpoint", "err", err)
		}
	}
}

// checkpoint runs one passive checkpoint and tells whether it copied the
// whole WAL; a partial one (a reader still needed older pages, or a commit
// came meanwhile) is completed by the next.
//
// A WAL of more than walRestartFrames frames is restarted instead (and
// restarted tells so). The writer starts the WAL from its beginning only
// once everything in it is copied and no reader still reads from it; under
// a steady stream of commits and reads that moment never comes, and the
// WAL grows without bound (docs/performance.md, stop 30). A RESTART
// checkpoint makes the moment: it holds new commits back while it copies
// the rest and waits for the readers of older snapshots (reads take
// milliseconds), at most restartWait for each, and the next commit starts
// the WAL again. A reader it could not wait for (a long export) holds the
// restarts off for restartHold, so that commits are not held back again
// and again while it reads.
func (db *DB) checkpoint(ctx context.Context) (complete, restarted bool, err error) {
	var busy, frames, copied int
	if err := db.ckpt.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return false, false, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	if frames > db.walRestartFrames && time.Now().UnixNano() >= db.restartHeld.Load() {
		restarted = true
		if err := db.ckpt.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &copied); err != nil {
			return false, true, fmt.Errorf("sqlite: restart the WAL: %w", err)
		}
		if busy != 0 {
			db.restartHeld.Store(time.Now().Add(restartHold).UnixNano())
		}
	}
	return busy == 0 && copied == frames, restarted, nil
}

// The WAL is restarted from 64 MiB of 4 KiB pages (the journal_size_limit
// it is then truncated to); the restart waits for the writer and the
// readers at most restartWait each, and after a reader it could not wait
// for, tries again restartHold later.
const (
	walRestartFrames = 16384
	restartWait      = 250 * time.Millisecond
	restartHold      = 10 * time.Second
)

// Ping checks that the readers answer.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	return nil
}

// withTx runs fn in a durable write transaction on the single writer
// connection.
func (db *DB) withTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.inTx(ctx, durable, fn)
}

// Durability of a write transaction: a durable one is on disk when its
// commit returns; a redoable one may be lost to a power cut (never to a
// crash of the process), together with everything committed after it, and
// is for writes that whatever made them does again when they are lost:
// bookkeeping of a job whose completion, committed after it, is lost too.
const (
	durable  = true
	redoable = false
)

func (db *DB) inTx(ctx context.Context, sync bool, fn func(tx *Tx) error) error {
	var tx *Tx
	var err error
	if sync {
		tx, err = db.write.beginDurable(ctx)
	} else {
		tx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	queues, err := db.insertJobs(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if len(queues) > 0 {
		db.kicker.Kick(queues)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
