package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/storetest"
)

// TestGroupCommitIsolation: writers committed in one group do not share
// failures. One that fails after writing has its writes undone; the
// others' are committed.
func TestGroupCommitIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)

	// Hold a group so that the next two writers queue into one.
	release := holdGroup(t, db, durable)
	failing := errors.New("failed after writing")
	results := make(chan error, 2)
	go func() {
		results <- db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET summary = 'undone' WHERE id = ?`, c.ID); err != nil {
				return err
			}
			tx.enqueue(parley.WebhookJob{TenantID: tenant.ID, DeliveryID: "undone"}, nil)
			return failing
		})
	}()
	go func() {
		results <- db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
			tx.enqueue(parley.WebhookJob{TenantID: tenant.ID, DeliveryID: "kept"}, nil)
			_, err := tx.ExecContext(ctx, `UPDATE conversations SET platform = 'kept' WHERE id = ?`, c.ID)
			return err
		})
	}()
	require.Eventually(t, func() bool { return waiting(db) == 2 }, 5*time.Second, time.Millisecond)
	release()
	errs := []error{<-results, <-results}
	require.ElementsMatch(t, []error{failing, nil}, errs)

	got, err := db.GetConversation(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, "kept", got.Platform, "the other writer's write is committed")
	st, err := db.ReplyState(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Empty(t, st.Summary, "the failed writer's write is undone")
	var jobs []string
	rows, err := db.Writer().QueryContext(ctx, `SELECT json_extract(args, '$.delivery_id') FROM river_job`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		jobs = append(jobs, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"kept"}, jobs, "the failed writer's job goes with its writes")
}

// TestGroupOfOneFailing: a writer alone in its group that fails after
// writing has its writes undone, and its error is what it gets.
func TestGroupOfOneFailing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	failing := errors.New("failed after writing")
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET summary = 'undone' WHERE id = ?`, c.ID); err != nil {
			return err
		}
		return failing
	})
	require.ErrorIs(t, err, failing)
	st, err := db.ReplyState(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Empty(t, st.Summary)
}

// TestGroupsWithFailingWriters: appends from many writers at once, some of
// them failing (a reused idempotency key with another request), commit
// every other writer's message exactly once, with seqs that have no gaps,
// whichever groups the failures fall into.
func TestGroupsWithFailingWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "x", IdempotencyKey: "used", RequestHash: "first"})
	require.NoError(t, err)
	const writers = 200
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			m := parley.NewMessage{FromBot: true, Text: fmt.Sprint(i)}
			if i%5 == 0 {
				m.IdempotencyKey, m.RequestHash = "used", "another"
			}
			_, err := db.AppendMessage(ctx, tenant.ID, c.ID, m)
			errs <- err
		}()
	}
	failed := 0
	for range writers {
		if err := <-errs; err != nil {
			require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), err)
			failed++
		}
	}
	require.Equal(t, writers/5, failed)
	msgs, err := db.ListMessages(ctx, tenant.ID, c.ID, parley.HistoryQuery{Limit: 500})
	require.NoError(t, err)
	require.Len(t, msgs, 1+writers-failed)
	seen := map[string]bool{}
	for i, m := range msgs {
		require.EqualValues(t, i+1, m.Seq, "no gaps")
		require.False(t, seen[m.Text], "once each: %q", m.Text)
		seen[m.Text] = true
	}
}

// openConversation opens a store with one tenant, bot, user and
// conversation.
func openConversation(t *testing.T) (*DB, *parley.Tenant, *parley.Conversation) {
	t.Helper()
	return openConversationWith(t, Options{})
}

func openConversationWith(t *testing.T, opts Options) (*DB, *parley.Tenant, *parley.Conversation) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "parley.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	tenant, c := storetest.NewConversation(t, db)
	return db, tenant, c
}

// TestDurableCommits: Parley's own writes commit with synchronous=FULL,
// including a failed one's rollback leaving the writer as it was; the
// writer's connection otherwise stays NORMAL, which is what the job
// queue's bookkeeping commits with.
func TestDurableCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, c := openConversation(t)
	level := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		var n int
		require.NoError(t, q.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n))
		return n
	}
	const normal, full = 1, 2
	require.Equal(t, normal, level(db.Writer()))
	var inTx, inGroup int // read inside, checked outside: a failing check must not end the goroutine committing the group
	require.NoError(t, db.withTx(ctx, func(tx *Tx) error {
		inTx = level(tx.Tx) // not through the statement cache: a prepared PRAGMA keeps the value it was prepared with
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET platform = 'p' WHERE id = ?`, c.ID)
		return err
	}))
	require.Equal(t, full, inTx)
	require.Equal(t, normal, level(db.Writer()))
	require.Error(t, db.withTx(ctx, func(tx *Tx) error { return errors.New("rolled back") }))
	require.Equal(t, normal, level(db.Writer()))
	require.NoError(t, db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		inGroup = level(tx.Tx)
		return nil
	}))
	require.Equal(t, full, inGroup)
	require.Equal(t, normal, level(db.Writer()))
	require.NoError(t, db.inGroup(ctx, redoable, func(ctx context.Context, tx *Tx) error {
		inGroup = level(tx.Tx)
		return nil
	}))
	require.Equal(t, normal, inGroup, "a group of redoable writes needs no fsync")

	// A redoable write grouped with a durable one is durable with it.
	release := holdGroup(t, db, redoable)
	levels := make(chan int, 2)
	results := make(chan error, 2)
	for _, sync := range []bool{redoable, durable} {
		go func() {
			results <- db.inGroup(ctx, sync, func(ctx context.Context, tx *Tx) error {
				var n int
				err := tx.Tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n)
				levels <- n
				return err
			})
		}()
	}
	require.Eventually(t, func() bool { return waiting(db) == 2 }, 5*time.Second, time.Millisecond)
	release()
	require.NoError(t, <-results)
	require.NoError(t, <-results)
	require.Equal(t, []int{full, full}, []int{<-levels, <-levels})
}

// TestReadHandles: point reads go without a memory map, tenant-wide search
// through one (see Open).
func TestReadHandles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, _ := openConversation(t)
	mmap := func(h handle) int64 {
		var n int64
		require.NoError(t, h.DB.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&n))
		return n
	}
	require.Zero(t, mmap(db.read))
	require.Zero(t, mmap(db.write))
	require.Equal(t, int64(1<<30), mmap(db.search))
}

// TestCommitKicksQueues: a committed transaction kicks the queues of the
// jobs it queued, once each; a rolled-back one kicks nothing.
func TestCommitKicksQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, _ := openConversation(t)
	// The queue's listener answers a kick at once; with nothing kicked it
	// asks River's own listener, which is not connected here and fails.
	l := db.queue.Driver().GetListener(&riverdriver.GetListenenerParams{})
	kicked := func() string {
		n, err := l.WaitForNotification(ctx)
		if err != nil {
			return ""
		}
		return n.Payload
	}
	job := parley.WebhookJob{TenantID: tenant.ID, DeliveryID: "d"}
	require.Error(t, db.withTx(ctx, func(tx *Tx) error {
		tx.enqueue(job, store.DeliveryJobOpts())
		return errors.New("rolled back")
	}))
	require.Empty(t, kicked())
	require.NoError(t, db.withTx(ctx, func(tx *Tx) error {
		tx.enqueue(job, store.DeliveryJobOpts())
		tx.enqueue(job, store.DeliveryJobOpts())
		return nil
	}))
	require.JSONEq(t, `{"queue":"deliveries"}`, kicked())
	require.Empty(t, kicked(), "one kick per queue")
}

// walTest opens a store that nothing writes to but the test (the
// checkpointer and the indexer wait an hour; the test runs checkpoint
// itself), with the size of its WAL file and a writer of n messages of a
// few pages each.
func walTest(t *testing.T) (db *DB, walSize func() int64, say func(n int)) {
	ctx := context.Background()
	db, tenant, c := openConversationWith(t, Options{CheckpointInterval: time.Hour, IndexInterval: time.Hour})
	var path string
	require.NoError(t, db.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path))
	text := strings.Repeat("words to fill the pages of the log ", 40)
	return db, func() int64 {
			info, err := os.Stat(path + "-wal")
			require.NoError(t, err)
			return info.Size()
		}, func(n int) {
			for range n {
				_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: text, Bubbles: []string{text}})
				require.NoError(t, err)
			}
		}
}

// TestWALIsCheckpointed: the writer never checkpoints, the background
// checkpointer does, and the WAL is then reused from its start instead of
// growing with every write.
func TestWALIsCheckpointed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, walSize, say := walTest(t)

	// The ticker waits an hour: the writer's commits alone leave every
	// frame in the WAL, past the 1,000 pages (4 MiB) at which SQLite
	// checkpoints by default.
	say(1000)
	grown := walSize()
	t.Logf("WAL after 1,000 messages: %d bytes", grown)
	require.Greater(t, grown, int64(6<<20))

	// Once checkpointed, writing as much again reuses the WAL.
	require.Eventually(t, func() bool {
		complete, _, err := db.checkpoint(ctx)
		require.NoError(t, err)
		return complete
	}, 10*time.Second, 10*time.Millisecond)
	say(1000)
	require.LessOrEqual(t, walSize(), grown+grown/4)
}

// TestWALRestarts: a reader holding a snapshot in the WAL keeps the writer
// from starting the WAL again even once it is all copied (under steady
// reads and writes there is always such a reader, and the WAL grows
// without bound); past walRestartFrames, a checkpoint waits for that
// reader, and the next writes reuse the WAL from its start. A reader it
// cannot wait for holds the restarts off, so that commits are not held
// back at every checkpoint while it reads.
func TestWALRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, walSize, say := walTest(t)
	db.walRestartFrames = 100
	say(300) // past 100 frames
	grown := walSize()
	// read begins a read of the WAL's snapshot and returns its end.
	read := func() (done func()) {
		conn, err := db.read.Conn(ctx)
		require.NoError(t, err)
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n))
		return func() {
			_ = tx.Rollback()
			_ = conn.Close()
		}
	}

	// A reader done in 100 ms: the checkpoint waits for it.
	done := read()
	released := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		done()
		close(released)
	}()
	complete, restarted, err := db.checkpoint(ctx)
	require.NoError(t, err)
	require.True(t, restarted)
	require.True(t, complete)
	select {
	case <-released:
	default:
		t.Fatal("the checkpoint returned before the reader of the WAL was done: the WAL was not restarted")
	}
	say(300)
	require.LessOrEqual(t, walSize(), grown+grown/4, "the WAL is reused from its start")

	// A reader longer than restartWait: the restart gives up, and the
	// checkpoints after it do not try again until restartHold has passed.
	done = read()
	say(300)
	complete, restarted, err = db.checkpoint(ctx)
	require.NoError(t, err)
	require.True(t, restarted)
	require.False(t, complete, "the reader still reads the WAL")
	_, restarted, err = db.checkpoint(ctx)
	require.NoError(t, err)
	require.False(t, restarted, "held off while the reader reads")
	done()
	db.restartHeld.Store(0) // restartHold has passed
	complete, restarted, err = db.checkpoint(ctx)
	require.NoError(t, err)
	require.True(t, restarted)
	require.True(t, complete)
}

// waiting is how many writers wait for a group commit.
func waiting(db *DB) int {
	return db.groups.Waiting()
}

// TestCloseFinishesGroups: closing the store commits the writers already
// waiting for a group and refuses later ones.
func TestCloseFinishesGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	var path string
	require.NoError(t, db.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path))
	release := holdGroup(t, db, durable)
	appended := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "queued", Bubbles: []string{"queued"}})
			appended <- err
		}()
	}
	require.Eventually(t, func() bool { return waiting(db) == 3 }, 5*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	require.Eventually(t, db.groups.Closed, 5*time.Second, time.Millisecond)
	_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "late", Bubbles: []string{"late"}})
	require.ErrorIs(t, err, errStoreClosed)
	release()
	for range 3 {
		require.NoError(t, <-appended)
	}
	require.NoError(t, <-closed)

	reopened, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	defer reopened.Close()
	msgs, err := reopened.ListMessages(ctx, tenant.ID, c.ID, parley.HistoryQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, msgs, 3, "the writers waiting at Close are committed, the late one is not")
}

// holdGroup starts a group commit whose one writer waits for release, so
// that the writers coming meanwhile wait together for the next group.
func holdGroup(t *testing.T, db *DB, sync bool) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.inGroup(context.Background(), sync, func(context.Context, *Tx) error { close(started); <-unblock; return nil })
	}()
	<-started
	return func() {
		close(unblock)
		require.NoError(t, <-held)
	}
}
