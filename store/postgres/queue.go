package postgres

import (
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// QueueOptions configure the durable job queue (River) of the store.
type QueueOptions struct {
	// Workers run the jobs; nil makes an insert-only queue (CLI commands,
	// and tests that only look at what was enqueued).
	Workers *river.Workers
	// Concurrency is how many jobs run at once. Default 20.
	Concurrency int
	// JobTimeout bounds one attempt of a job. Default 2 minutes.
	JobTimeout time.Duration
	// RescueAfter is when a job still marked running (its process died) is
	// tried again: longer than any attempt can last. Default JobTimeout+5s.
	RescueAfter time.Duration
}

func newQueue(pool *pgxpool.Pool, o QueueOptions, opts Options) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: opts.Logger, Workers: o.Workers}
	if o.Workers != nil {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.concurrency()}}
		cfg.JobTimeout = o.JobTimeout
		if cfg.JobTimeout == 0 {
			cfg.JobTimeout = 2 * time.Minute
		}
		// A job still "running" after a crash is retried once it is older
		// than any live attempt can be.
		cfg.RescueStuckJobsAfter = o.RescueAfter
		if cfg.RescueStuckJobsAfter == 0 {
			cfg.RescueStuckJobsAfter = cfg.JobTimeout + 5*time.Second
		}
		// New jobs wake workers through LISTEN/NOTIFY; polling is the fallback.
		cfg.FetchCooldown = 20 * time.Millisecond
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: job queue: %w", err)
	}
	return client, nil
}

// StartWorkers starts working jobs (a no-op for an insert-only queue).
func (db *DB) StartWorkers(ctx context.Context) error {
	if db.queueOpts.Workers == nil {
		return nil
	}
	return db.queue.Start(ctx)
}

func (o QueueOptions) concurrency() int {
	if o.Concurrency <= 0 {
		return 20
	}
	return o.Concurrency
}
