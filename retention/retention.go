// Package retention is the periodic job that deletes the conversations
// bots keep for a limited time (parley.Retention): with their messages,
// the bytes of the media only they held, and an audit entry per bot.
package retention

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
)

// Store is what the job needs from a store.
type Store interface {
	parley.Retentions
	parley.Audit
}

// Blobs frees the bytes nothing names any more (content.Library).
type Blobs interface {
	Free(ctx context.Context, tenantID string, sums []string) error
}

// batch is how many conversations one delete takes.
const batch = 500

// Worker is the River worker of parley.RetentionJob.
type Worker struct {
	river.WorkerDefaults[parley.RetentionJob]
	Store Store
	Blobs Blobs // nil: no blob store
	Now   func() time.Time
}

// Timeout bounds one run: it deletes in batches, each committed, so a run
// cut short is finished by the next.
func (w *Worker) Timeout(*river.Job[parley.RetentionJob]) time.Duration { return 10 * time.Minute }

// Work deletes every expired conversation, a batch at a time.
func (w *Worker) Work(ctx context.Context, _ *river.Job[parley.RetentionJob]) error {
	now := parley.Now()
	if w.Now != nil {
		now = w.Now()
	}
	for {
		gone, err := w.Store.DeleteExpired(ctx, now, batch)
		if err != nil {
			return err
		}
		var n int64
		for _, e := range gone {
			n += e.Conversations
			if w.Blobs != nil {
				if err := w.Blobs.Free(ctx, e.TenantID, e.MediaSHA256); err != nil {
					return err
				}
			}
			if _, err := w.Store.RecordAudit(ctx, e.TenantID, parley.AuditEntry{Action: parley.AuditRetention, Subject: e.BotID,
				Counts: map[string]int64{"conversations": e.Conversations, "messages": e.Messages, "media": int64(len(e.MediaSHA256))}}); err != nil {
				return err
			}
		}
		if n < batch {
			return nil
		}
	}
}
