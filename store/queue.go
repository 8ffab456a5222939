// Package store holds what Parley's stores share besides their SQL: the
// configuration of the durable job queue (River) each one runs in its own
// database. The engines live in store/sqlite and store/postgres.
package store

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
)

// QueueOptions configure a store's job queue.
type QueueOptions struct {
	// Workers run the jobs; nil makes an insert-only queue (CLI commands,
	// and tests that only look at what was enqueued).
	Workers *river.Workers
	// Concurrency is how many replies (and other jobs) run at once.
	// Default 20.
	Concurrency int
	// DeliveryConcurrency is how many webhook deliveries run at once, in
	// their own queue (parley.DeliveryQueue). Default 100.
	DeliveryConcurrency int
	// JobTimeout bounds one attempt of a job. Default 2 minutes.
	JobTimeout time.Duration
	// RescueAfter is when a job still marked running (its process died) is
	// tried again: longer than any attempt can last. Default JobTimeout+5s.
	RescueAfter time.Duration
}

// DeliveriesConcurrent is the number of webhook deliveries run at once.
func (o QueueOptions) DeliveriesConcurrent() int { return cmp.Or(max(o.DeliveryConcurrency, 0), 100) }

// Working tells whether the queue runs jobs (not insert-only).
func (o QueueOptions) Working() bool { return o.Workers != nil }

// Concurrent is the number of jobs run at once.
func (o QueueOptions) Concurrent() int {
	if o.Concurrency <= 0 {
		return 20
	}
	return o.Concurrency
}

// RiverConfig is the River client configuration for these options. poll,
// when positive, is how often to look for new jobs: engines without
// notifications (SQLite) poll often. cooldown, when positive, is the least
// time between two fetches (20 ms otherwise, never longer than poll).
func (o QueueOptions) RiverConfig(logger *slog.Logger, poll, cooldown time.Duration) *river.Config {
	cfg := &river.Config{Logger: logger, Workers: o.Workers}
	if !o.Working() {
		return cfg
	}
	cfg.Queues = map[string]river.QueueConfig{
		river.QueueDefault:   {MaxWorkers: o.Concurrent()},
		parley.DeliveryQueue: {MaxWorkers: o.DeliveriesConcurrent()},
	}
	cfg.JobTimeout = o.JobTimeout
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 2 * time.Minute
	}
	// A job still "running" after a crash is retried once it is older than
	// any live attempt can be.
	cfg.RescueStuckJobsAfter = o.RescueAfter
	if cfg.RescueStuckJobsAfter == 0 {
		cfg.RescueStuckJobsAfter = cfg.JobTimeout + 5*time.Second
	}
	// River wants the cooldown between fetches no longer than the poll.
	cfg.FetchCooldown = cmp.Or(cooldown, 20*time.Millisecond)
	if poll > 0 {
		cfg.FetchPollInterval = poll
		cfg.FetchCooldown = min(cfg.FetchCooldown, poll)
	}
	return cfg
}
