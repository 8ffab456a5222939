package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/parley-chat/parley/store"
)

// QueueOptions configure the store's job queue.
type QueueOptions = store.QueueOptions

// pollInterval: SQLite has no LISTEN/NOTIFY, and polling a local file is
// cheap. A job inserted by this process wakes its producer at once (River
// does so when there is no listener); fetchCooldown is how soon after the
// last fetch that one may run, so it bounds the wait of a reply or a
// webhook delivery for its worker.
const (
	pollInterval  = 20 * time.Millisecond
	fetchCooldown = 5 * time.Millisecond
)

func newQueue(write *sql.DB, o QueueOptions, opts Options) (*river.Client[*sql.Tx], error) {
	client, err := river.NewClient(riversqlite.New(write), o.RiverConfig(opts.Logger, pollInterval, fetchCooldown))
	if err != nil {
		return nil, fmt.Errorf("sqlite: job queue: %w", err)
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
