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

// pollInterval is the fallback when a LISTEN/NOTIFY wake-up is missed
// (River debounces them): it bounds how late a job can start.
const pollInterval = 100 * time.Millisecond

func newQueue(pool *pgxpool.Pool, o QueueOptions, opts Options) (*river.Client[pgx.Tx], error) {
	client, err := river.NewClient(riverpgxv5.New(pool), o.RiverConfig(opts.Logger, pollInterval, 0))
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
