// Package store holds what Parley's stores share besides their SQL: the
// configuration of the durable job queue (River) each one runs in its own
// database, and the queue of writers their group commits gather (Group).
// The engines live in store/sqlite and store/postgres.
package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/parley-chat/parley"
)

// QueueOptions configure a store's job queue.
type QueueOptions struct {
	// Workers run the jobs; nil makes an insert-only queue (CLI commands,
	// and tests that only look at what was enqueued).
	Workers *river.Workers
	// Concurrency is how many replies (and other jobs) run at once.
	// Default 100: a reply mostly waits on its model, for seconds.
	Concurrency int
	// DeliveryConcurrency is how many webhook deliveries run at once, in
	// their own queue (parley.DeliveryQueue). Default 100.
	DeliveryConcurrency int
	// MemoryConcurrency is how many memory jobs run at once, in their own
	// queue (parley.MemoryQueue). Zero: this process works none; they wait
	// for one that does (tests and tools that run only some workers).
	MemoryConcurrency int
	// MediaConcurrency is how many media fetches run at once, in their
	// own queue (parley.MediaQueue). Zero: this process works none, as
	// with MemoryConcurrency.
	MediaConcurrency int
	// RetentionEvery is how often the retention job runs (parley.RetentionJob,
	// once across replicas: River's leader schedules it); zero: never here.
	RetentionEvery time.Duration
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
		return 100
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
	if o.MemoryConcurrency > 0 {
		cfg.Queues[parley.MemoryQueue] = river.QueueConfig{MaxWorkers: o.MemoryConcurrency}
	}
	if o.MediaConcurrency > 0 {
		cfg.Queues[parley.MediaQueue] = river.QueueConfig{MaxWorkers: o.MediaConcurrency}
	}
	if o.RetentionEvery > 0 {
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(o.RetentionEvery),
			func() (river.JobArgs, *river.InsertOpts) { return parley.RetentionJob{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	// Jobs are queued by the store for every worker Parley has, whichever
	// this process runs: their queues say which are worked here.
	cfg.SkipUnknownJobCheck = true
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
	// A completed job is kept an hour, not River's day: a reply's or a
	// delivery's outcome is kept by Parley's own tables, and a day of jobs
	// at a few hundred replies a second is tens of millions of rows in the
	// database's job table. Jobs that failed for good keep River's week.
	cfg.CompletedJobRetentionPeriod = completedJobRetention
	// River's reindexer rebuilds the job table's indexes, but for those
	// Parley drops.
	cfg.ReindexerIndexNames = slices.DeleteFunc(river.ReindexerIndexNamesDefault(),
		func(name string) bool { return slices.Contains(UnqueriedJobIndexes(), name) })
	// River wants the cooldown between fetches no longer than the poll.
	cfg.FetchCooldown = cmp.Or(cooldown, 20*time.Millisecond)
	if poll > 0 {
		cfg.FetchPollInterval = poll
		cfg.FetchCooldown = min(cfg.FetchCooldown, poll)
	}
	return cfg
}

// UnqueriedJobIndexes are the job table's indexes that the PostgreSQL
// store drops after River's migrations: GIN indexes of every job's args
// and metadata, which serve only River's job listing filtered by their
// contents, which Parley never asks for. Every job's insert and both its
// updates (taken, completed: never HOT, as the state is in the fetch
// index) wrote an entry per key and value to each; without them the
// replies benchmark cost PostgreSQL ~5 % less CPU (docs/performance.md).
// SQLite's job table never had them.
func UnqueriedJobIndexes() []string {
	return []string{"river_job_args_index", "river_job_metadata_index"}
}

// completedJobRetention is how long a completed job stays in the queue's
// table.
const completedJobRetention = time.Hour

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

// Kicker wakes the job queue's producers in this process as soon as a
// transaction that queued jobs commits. River wakes them with a
// notification, which it sends at most once per queue per fetch cooldown
// (PostgreSQL's NOTIFY) or writes to a table its listener polls every 50 ms
// (SQLite): either way a job could wait for the next poll. A store kicks
// the queues of its committed jobs; the listener of KickedDriver hands them
// to River's notifier as insert notifications, at once. Other processes
// sharing the database still hear River's own notifications.
type Kicker struct {
	mu     sync.Mutex
	queues map[string]bool
	signal chan struct{} // one pending signal covers any number of kicks
}

// NewKicker returns a Kicker with nothing kicked.
func NewKicker() *Kicker {
	return &Kicker{queues: map[string]bool{}, signal: make(chan struct{}, 1)}
}

// Kick marks queues as having new jobs. It never blocks.
func (k *Kicker) Kick(queues []string) {
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
func (k *Kicker) take() (string, bool) {
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

// KickedDriver is a River driver whose listener also hears k.
func KickedDriver[TTx any](d riverdriver.Driver[TTx], k *Kicker) riverdriver.Driver[TTx] {
	return &kickedDriver[TTx]{Driver: d, kicker: k}
}

type kickedDriver[TTx any] struct {
	riverdriver.Driver[TTx]
	kicker *Kicker
}

func (d *kickedDriver[TTx]) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &kickedListener{Listener: d.Driver.GetListener(params), kicker: d.kicker}
}

// kickedListener answers with River's own listener's notifications, or
// with an insert notification as soon as a store kicks. River calls
// WaitForNotification from one goroutine, again and again with the same
// context until it cancels it; the inner wait runs on in the background
// across calls that a kick answered, and is always finished before a call
// returns the context's end, so that no wait outlives its context. An
// inner wait left running when River stopped calling ends with its own
// context; the next call drops that ending and waits again.
type kickedListener struct {
	riverdriver.Listener
	kicker *Kicker
	inner  chan waitResult // the running inner wait, or nil
}

type waitResult struct {
	n   *riverdriver.Notification
	err error
}

func (l *kickedListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
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
		select {
		case r := <-l.inner:
			l.inner = nil
			if r.err != nil && ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
				continue // the end of an earlier call's context, not this one's: wait again
			}
			return r.n, r.err
		case <-ctx.Done():
			<-l.inner // the inner wait ends with the same context
			l.inner = nil
			return nil, ctx.Err()
		case <-l.kicker.signal:
		}
	}
}

// ReplyJobOpts say how a reply job is queued: runnable at once, tried
// parley.ReplyAttempts times. A job answers every user message not yet
// answered, so under coalesce the first job to run answers the burst; the
// debounce is the worker's, which snoozes the job until the burst has been
// quiet long enough (River makes short snoozes runnable at their time
// without waiting for its scheduler).
func ReplyJobOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: parley.ReplyAttempts}
}

// DeliveryJobOpts say how a webhook delivery job is queued: in the
// deliveries' own queue, tried parley.DeliveryAttempts times.
func DeliveryJobOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: parley.DeliveryQueue, MaxAttempts: parley.DeliveryAttempts}
}

// MediaJobOpts say how a media fetch job is queued: in the media's own
// queue, runnable at once.
func MediaJobOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: parley.MediaQueue, MaxAttempts: parley.MediaAttempts}
}

// MemoryJobOpts say how a memory job is queued: in the memories' own
// queue, runnable at once. A conversation has one queued at a time
// (memory_queued), so the messages of a burst that come while it waits are
// read by it: that is its debounce. Not scheduled for later: River's
// scheduler would hold it for seconds.
func MemoryJobOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: parley.MemoryQueue, MaxAttempts: parley.MemoryAttempts}
}
