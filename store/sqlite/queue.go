package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
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
// notifier an insert notification for their queues at once (store.Kicker); the
// polls only back it up. fetchCooldown is the least time between two
// fetches of a queue.
const (
	pollInterval  = 20 * time.Millisecond
	fetchCooldown = 5 * time.Millisecond
)

func newQueue(write *sql.DB, o QueueOptions, opts Options, k *store.Kicker) (*river.Client[*sql.Tx], error) {
	client, err := river.NewClient[*sql.Tx](store.KickedDriver[*sql.Tx](riversqlite.New(write), k),
		o.RiverConfig(opts.Logger, pollInterval, fetchCooldown))
	if err != nil {
		return nil, fmt.Errorf("sqlite: job queue: %w", err)
	}
	return client, nil
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
		// River's order: the insert's options, the job's own, the default.
		q := river.QueueDefault
		if a, ok := j.Args.(river.JobArgsWithInsertOpts); ok && a.InsertOpts().Queue != "" {
			q = a.InsertOpts().Queue
		}
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
