package memory

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
)

// Store is what the worker and recall need from a store.
type Store interface {
	parley.Accounts // the participants' names
	parley.Conversations
	parley.Memories
}

// Extractor finds facts in a conversation's messages: Builtin, or Model.
type Extractor interface {
	Extract(ctx context.Context, msgs []parley.Message) ([]parley.Fact, error)
}

// page is how many messages one StoreMemories covers.
const page = 200

// Worker is the River worker of parley.MemoryJob: it reads the messages
// of a conversation its memories do not cover yet, a page at a time, and
// stores the facts found in each page with the page's end, at once, so
// that a job cut short (a crash) is done again from where the store says,
// with no fact stored twice.
type Worker struct {
	river.WorkerDefaults[parley.MemoryJob]
	Store     Store
	Extractor Extractor       // nil: Builtin
	Embedder  parley.Embedder // the facts' vectors; nil: none
}

// jobTimeout bounds one attempt of an extraction.
const jobTimeout = time.Minute

// Timeout bounds one attempt.
func (w *Worker) Timeout(*river.Job[parley.MemoryJob]) time.Duration { return jobTimeout }

// Work reads the conversation's new messages for memories.
func (w *Worker) Work(ctx context.Context, job *river.Job[parley.MemoryJob]) error {
	a := job.Args
	c, err := w.Store.ClaimMemories(ctx, a.TenantID, a.ConversationID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return river.JobCancel(err) // the conversation was deleted
	}
	if err != nil {
		return err
	}
	ex := w.Extractor
	if ex == nil {
		ex = Builtin{}
	}
	after := c.MemoriesSeq
	for {
		msgs, err := w.Store.ListMessages(ctx, a.TenantID, a.ConversationID, parley.HistoryQuery{Limit: page, AfterSeq: after})
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return w.refreshVectors(ctx, a.TenantID, c)
		}
		upto := msgs[len(msgs)-1].Seq
		facts, err := ex.Extract(ctx, msgs)
		if err != nil {
			return err // tried again by the queue: the messages stay unread until then
		}
		if err := Embed(ctx, w.Embedder, facts); err != nil {
			return err // likewise
		}
		if _, err := w.Store.StoreMemories(ctx, a.TenantID, a.ConversationID, upto, facts); err != nil {
			return err
		}
		after = upto
		if len(msgs) < page {
			return w.refreshVectors(ctx, a.TenantID, c)
		}
	}
}

// refreshVectors embeds the user's memories that have no vector of the
// embedder's model (stored before memories had vectors, or under another
// model), so that recall ranks them by it too: the memories of users who
// talk are brought up to date as they do.
func (w *Worker) refreshVectors(ctx context.Context, tenantID string, c *parley.Conversation) error {
	if w.Embedder == nil {
		return nil
	}
	stale, err := w.Store.ListMemories(ctx, tenantID, parley.MemoryFilter{BotID: c.BotID, UserID: c.UserID,
		StaleFor: w.Embedder.Model(), Limit: parley.RecallMemories})
	if err != nil {
		return err
	}
	if len(stale) == 0 {
		return nil
	}
	facts := make([]parley.Fact, len(stale))
	for i, m := range stale {
		facts[i] = parley.Fact{Text: m.Text}
	}
	if err := Embed(ctx, w.Embedder, facts); err != nil {
		return err
	}
	vs := make([]parley.MemoryVector, len(stale))
	for i, m := range stale {
		vs[i] = parley.MemoryVector{ID: m.ID, Version: m.Version, Vector: facts[i].Vector}
	}
	return w.Store.SetMemoryVectors(ctx, tenantID, vs)
}
