package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/parley-chat/parley/store"
)

// QueueOptions configure the store's job queue.
type QueueOptions = store.QueueOptions

// SQLite has no LISTEN/NOTIFY. River emulates it: a job inserted in a
// transaction also writes a notification row, which River's listener looks
// for every 50 ms, and its producers look for jobs every pollInterval.
// Either wait would be most of a webhook delivery's or a reply's latency,
// so when a transaction that queued jobs commits, the store hands River's
// notifier an insert notification for their queues at once (kicker); the
// polls only back it up. fetchCooldown is the least time between two
// fetches of a queue.
const (
	pollInterval  = 20 * time.Millisecond
	fetchCooldown = 5 * time.Millisecond
)

// insertTopic and insertPayload are River's insert notification, as its
// clients send each other through PostgreSQL's NOTIFY (River's
// internal/notifier and producer): producers of the queue named fetch.
const insertTopic = "river_insert"

func insertPayload(queue string) string {
	b, _ := json.Marshal(struct {
		Queue string `json:"queue"`
	}{queue}) // a string field: cannot fail
	return string(b)
}

func newQueue(write *sql.DB, o QueueOptions, opts Options, k *kicker) (*river.Client[*sql.Tx], error) {
	client, err := river.NewClient[*sql.Tx](&kickedDriver{Driver: riversqlite.New(write), kicker: k},
		o.RiverConfig(opts.Logger, pollInterval, fetchCooldown))
	if err != nil {
		return nil, fmt.Errorf("sqlite: job queue: %w", err)
	}
	return client, nil
}

// kicker collects the queues that committed transactions queued jobs in,
// until the listener hands them on.
type kicker struct {
	mu     sync.Mutex
	queues map[string]bool
	signal chan struct{} // one pending signal covers any number of kicks
}

func newKicker() *kicker {
	return &kicker{queues: map[string]bool{}, signal: make(chan struct{}, 1)}
}

// kick never blocks.
func (k *kicker) kick(queues []string) {
	k.mu.Lock()
	for _, q := range queues {
		k.queues[q] = true
	}
	k.mu.Unlock()
	select {
	case k.signal <- struct{}{}:
	default:
	}
}

// take returns one kicked queue, if any.
func (k *kicker) take() (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for q := range k.queues {
		delete(k.queues, q)
		if len(k.queues) > 0 {
			select { // more to take: keep the signal up
			case k.signal <- struct{}{}:
			default:
			}
		}
		return q, true
	}
	return "", false
}

// kickedDriver is River's SQLite driver with a listener that also hears
// the store's kicks.
type kickedDriver struct {
	*riversqlite.Driver
	kicker *kicker
}

func (d *kickedDriver) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &kickedListener{Listener: d.Driver.GetListener(params), kicker: d.kicker}
}

// kickedListener answers with River's own listener's notifications, or
// with an insert notification as soon as the store kicks. River calls
// WaitForNotification from one goroutine, again and again with the same
// context until it cancels it; the inner wait runs on in the background
// across calls that a kick answered, and is always finished before a call
// returns the context's end, so that no wait outlives its context.
type kickedListener struct {
	riverdriver.Listener
	kicker *kicker
	inner  chan waitResult // the running inner wait, or nil
}

type waitResult struct {
	n   *riverdriver.Notification
	err error
}

func (l *kickedListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	if q, ok := l.kicker.take(); ok {
		return &riverdriver.Notification{Topic: insertTopic, Payload: insertPayload(q)}, nil
	}
	if l.inner == nil {
		l.inner = make(chan waitResult, 1)
		go func(ch chan<- waitResult) {
			n, err := l.Listener.WaitForNotification(ctx)
			ch <- waitResult{n, err}
		}(l.inner)
	}
	for {
		select {
		case r := <-l.inner:
			l.inner = nil
			return r.n, r.err
		case <-ctx.Done():
			<-l.inner // the inner wait ends with the same context
			l.inner = nil
			return nil, ctx.Err()
		case <-l.kicker.signal:
			if q, ok := l.kicker.take(); ok {
				return &riverdriver.Notification{Topic: insertTopic, Payload: insertPayload(q)}, nil
			}
		}
	}
}

// enqueue queues a job in tx. Jobs are inserted just before the commit,
// all of a transaction's in one statement: in a group commit, one insert
// instead of one per writer (River's insert is most of an append's cost).
func (tx *Tx) enqueue(args river.JobArgs, opts *river.InsertOpts) {
	tx.jobs = append(tx.jobs, river.InsertManyParams{Args: args, InsertOpts: opts})
}

// insertJobs inserts the jobs tx queued, and returns their queues.
func (db *DB) insertJobs(ctx context.Context, tx *Tx) ([]string, error) {
	if len(tx.jobs) == 0 {
		return nil, nil
	}
	if _, err := db.queue.InsertManyFastTx(ctx, tx.Tx, tx.jobs); err != nil {
		return nil, fmt.Errorf("sqlite: queue jobs: %w", err)
	}
	queues := make([]string, 0, 2)
	for _, j := range tx.jobs {
		q := river.QueueDefault
		if j.InsertOpts != nil && j.InsertOpts.Queue != "" {
			q = j.InsertOpts.Queue
		}
		if !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	return queues, nil
}

// StartWorkers starts working jobs (a no-op for an insert-only queue).
func (db *DB) StartWorkers(ctx context.Context) error {
	if !db.queueOpts.Working() {
		return nil
	}
	return db.queue.Start(ctx)
}
