package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/parley-chat/parley/store"
)

// QueueOptions configure the store's job queue.
type QueueOptions = store.QueueOptions

// This process's producers are kicked when a transaction that queued jobs
// commits (store.Kicker); other replicas poll (quietInserts).
// pollInterval bounds how late a job can start when its own replica's
// workers are all busy; fetchCooldown is the least time between two
// fetches.
const (
	pollInterval  = 50 * time.Millisecond
	fetchCooldown = 5 * time.Millisecond
)

func newQueue(pool *pgxpool.Pool, opts Options, k *store.Kicker) (*river.Client[pgx.Tx], error) {
	cfg := opts.Queue.RiverConfig(opts.Logger, pollInterval, fetchCooldown)
	// Through a pooler in transaction mode LISTEN hears nothing: producers
	// poll (pollInterval), and this process's are kicked as ever.
	cfg.PollOnly = opts.DirectURL != ""
	client, err := river.NewClient(quietInserts{store.KickedDriver[pgx.Tx](riverpgxv5.New(pool), k)}, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: job queue: %w", err)
	}
	return client, nil
}

// quietInserts is a River driver that LISTENs but sends no NOTIFY when
// jobs are inserted: PostgreSQL lets one transaction that notifies commit
// at a time, its WAL flush included, so a NOTIFY in every transaction that
// queues a job (nearly every append and reply) would make the replicas'
// commits take turns. This process's producers are kicked when such a
// transaction commits (store.Kicker); other replicas find the jobs at
// their next poll (pollInterval), when this one's workers are all busy.
type quietInserts struct {
	riverdriver.Driver[pgx.Tx]
}

func (quietInserts) SupportsListenNotify() bool { return false }

// StartWorkers starts working jobs (a no-op for an insert-only queue).
func (db *DB) StartWorkers(ctx context.Context) error {
	if !db.queueOpts.Working() {
		return nil
	}
	return db.queue.Start(ctx)
}
