package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/parley-chat/parley/store"
)

// QueueOptions configure the store's job queue.
type QueueOptions = store.QueueOptions

// River wakes producers with LISTEN/NOTIFY, but sends at most one
// notification per queue per fetchCooldown, so a job inserted soon after
// another could wait for the poll. This process's producers are kicked
// when a transaction that queued jobs commits (store.Kicker); other
// replicas hear River's notifications. pollInterval bounds how late a job
// can start; fetchCooldown is the least time between two fetches.
const (
	pollInterval  = 50 * time.Millisecond
	fetchCooldown = 5 * time.Millisecond
)

func newQueue(pool *pgxpool.Pool, opts Options, k *store.Kicker) (*river.Client[pgx.Tx], error) {
	cfg := opts.Queue.RiverConfig(opts.Logger, pollInterval, fetchCooldown)
	// Through a pooler in transaction mode LISTEN hears nothing: producers
	// poll (pollInterval), and this process's are kicked as ever.
	cfg.PollOnly = opts.DirectURL != ""
	client, err := river.NewClient(store.KickedDriver[pgx.Tx](riverpgxv5.New(pool), k), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: job queue: %w", err)
	}
	return client, nil
}

// StartWorkers starts working jobs (a no-op for an insert-only queue).
func (db *DB) StartWorkers(ctx context.Context) error {
	if !db.queueOpts.Working() {
		return nil
	}
	return db.queue.Start(ctx)
}
