package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/reply"
)

// ReplyStore is what the reply benchmark needs.
type ReplyStore interface {
	parley.Accounts
	parley.Conversations
	parley.Replies
	parley.Events
}

// ReplyResult is one store's reply figures.
type ReplyResult struct {
	Store       string
	History     int
	OverheadP50 time.Duration // append + enqueue + assembly + store, instant provider
	OverheadP99 time.Duration
	WorkP50     time.Duration // the worker's part alone
	WorkP99     time.Duration
	// Quiet* are the overhead of the samples that no garbage collection
	// cycle overlapped, GCShare the share of samples one did: on a small
	// heap a cycle runs every few dozen replies, slowing the replies it
	// overlaps; the split shows how much of the tail is left without them.
	QuietP50, QuietP99 time.Duration
	GCShare            float64
	// SyncP50 and SyncP99 are the floor under the overhead, measured in
	// the same run: two 4 KiB writes, each made durable with fsync, as the
	// user's message and the reply each are.
	SyncP50, SyncP99 time.Duration
	RepliesPerS      float64 // end to end through the queue
	Conversations    int
	// Queue is River's own bookkeeping per job on the same database,
	// measured after the replies (QueueFloor); zero when not measured.
	Queue     QueueCost
	OneWriter bool // the store takes one writer at a time (SQLite)
}

// Replies measures the server's own cost per reply. The provider is the
// built-in responder, which answers in microseconds: what is left is
// Parley's cost. Overhead is measured by calling the worker directly after
// the append; throughput by letting the queue's workers answer a burst.
// The burst's clients wait for their reply as the streaming API does for
// a subscriber: woken by hub, they read the conversation's new events,
// rather than polling the store: polling from hundreds of clients would
// measure the poll, not the replies.
func Replies(ctx context.Context, name string, st ReplyStore, hub *live.Hub, register func(w *reply.Worker), startQueue func() error, opts Options) (*ReplyResult, error) {
	r := &ReplyResult{Store: name, History: 1000}
	tenant, err := st.EnsureTenant(ctx, "bench-replies")
	if err != nil {
		return nil, err
	}
	zero := 0
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot", Name: "Bench", Reply: parley.ReplySettings{DebounceMS: &zero}}); err != nil {
		return nil, err
	}
	corpus, _ := loadCorpus(opts.CorpusDir)
	newConv := func(user string, history int) (string, error) {
		c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: user}, CreateUser: true})
		if err != nil {
			return "", err
		}
		// History as bot-side messages: stored like any other, no jobs.
		for i := range history {
			text := corpus[i%len(corpus)]
			if _, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: text, Bubbles: []string{text}}); err != nil {
				return "", err
			}
		}
		return c.ID, nil
	}

	// Overhead: one conversation with 1,000 messages, replies made in turn.
	conv, err := newConv("overhead", r.History)
	if err != nil {
		return nil, err
	}
	w := &reply.Worker{Store: st, Providers: &reply.Providers{}}
	register(w)
	samples := min(opts.Samples, 1000)
	total := make([]time.Duration, 0, samples)
	work := make([]time.Duration, 0, samples)
	quiet := make([]time.Duration, 0, samples)
	for i := range samples {
		text := corpus[(i*13)%len(corpus)]
		gc0 := gcCycles()
		t0 := time.Now()
		if _, err := st.AppendMessage(ctx, tenant.ID, conv, parley.NewMessage{Text: text, Bubbles: []string{text}}); err != nil {
			return nil, err
		}
		t1 := time.Now()
		job := &river.Job[parley.ReplyJob]{JobRow: &rivertype.JobRow{ID: int64(1_000_000 + i), Attempt: 1, MaxAttempts: 5,
			ScheduledAt: t1}, Args: parley.ReplyJob{TenantID: tenant.ID, ConversationID: conv}}
		if err := w.Work(ctx, job); err != nil {
			return nil, fmt.Errorf("work: %w", err)
		}
		total = append(total, time.Since(t0))
		work = append(work, time.Since(t1))
		if gcCycles() == gc0 {
			quiet = append(quiet, total[len(total)-1])
		}
	}
	r.OverheadP50, r.OverheadP99 = pct(total, 50), pct(total, 99)
	r.QuietP50, r.QuietP99 = pct(quiet, 50), pct(quiet, 99)
	r.GCShare = 1 - float64(len(quiet))/float64(max(len(total), 1))
	r.WorkP50, r.WorkP99 = pct(work, 50), pct(work, 99)
	if r.SyncP50, r.SyncP99, err = syncFloor(opts.Dir, samples); err != nil {
		return nil, err
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "%s reply overhead: p50 %v p99 %v (worker alone p50 %v p99 %v; no GC overlapping p50 %v p99 %v, %.0f %% overlapped; two fsyncs p50 %v p99 %v)\n", name,
			r.OverheadP50, r.OverheadP99, r.WorkP50, r.WorkP99, r.QuietP50, r.QuietP99, 100*r.GCShare, r.SyncP50, r.SyncP99)
	}

	// Throughput: many conversations, one burst, the queue's workers.
	if err := startQueue(); err != nil {
		return nil, err
	}
	r.Conversations = 200
	convs := make([]string, r.Conversations)
	for i := range convs {
		if convs[i], err = newConv(fmt.Sprintf("tp-%d", i), 20); err != nil {
			return nil, err
		}
	}
	const perConv = 30
	lastEvent := make([]int64, len(convs))
	for i, c := range convs {
		if lastEvent[i], _, err = readUntilReply(ctx, st, tenant.ID, c, 0, math.MaxInt64); err != nil { // the newest event
			return nil, err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for ci, c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signals, cancel := hub.Subscribe(c)
			defer cancel()
			after := lastEvent[ci]
			for i := range perConv {
				// Wait for the previous reply, as a user would: every message
				// then needs a reply of its own.
				text := fmt.Sprintf("question %d: %s", i, corpus[i%len(corpus)])
				res, err := st.AppendMessage(ctx, tenant.ID, c, parley.NewMessage{Text: text, Bubbles: []string{text}})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				// Read once signalled, as a live stream does: the append
				// stored no event (a user message has none), and its reply
				// comes after it, with a signal.
				for answered := false; !answered; {
					// The timeout only guards against a missed signal.
					select {
					case <-signals:
					case <-time.After(time.Second):
					case <-ctx.Done():
						firstErr.CompareAndSwap(nil, ctx.Err())
						return
					}
					if after, answered, err = readUntilReply(ctx, st, tenant.ID, c, after, res.Message.Seq); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	r.RepliesPerS = float64(r.Conversations*perConv) / time.Since(start).Seconds()
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "%s replies through the queue: %.0f/s\n", name, r.RepliesPerS)
	}
	return r, nil
}

// readUntilReply reads a conversation's events after the event id after,
// as the live stream does for its subscribers, and tells whether they hold
// a bot message after seq. It returns the last event id read.
func readUntilReply(ctx context.Context, st ReplyStore, tenantID, conversationID string, after, seq int64) (int64, bool, error) {
	for {
		evs, err := st.ListEvents(ctx, tenantID, conversationID, after, 100)
		if err != nil || len(evs) == 0 {
			return after, false, err
		}
		for _, e := range evs {
			after = e.ID
			if e.Type == parley.EventReplyFailed {
				return after, false, fmt.Errorf("bench: reply failed: %s", e.Data)
			}
			if e.Type != parley.EventMessageCreated {
				continue
			}
			var m struct {
				Seq     int64 `json:"seq"`
				FromBot bool  `json:"from_bot"`
			}
			if err := json.Unmarshal(e.Data, &m); err != nil {
				return after, false, fmt.Errorf("bench: decode event %d: %w", e.ID, err)
			}
			if m.FromBot && m.Seq > seq {
				return after, true, nil
			}
		}
	}
}

// gcCycles is how many garbage collection cycles the process has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// syncFloor measures what two durable commits cost at the least on the
// disk of dir (where the benchmark's SQLite database is; empty: the
// temporary directory): each sample writes a 4 KiB page and fsyncs it,
// twice.
func syncFloor(dir string, samples int) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "parley-bench-sync")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	ds := make([]time.Duration, 0, samples)
	for i := range samples {
		t0 := time.Now()
		for j := range 2 {
			if _, err := f.WriteAt(page, int64(2*i+j)*4096); err != nil {
				return 0, 0, err
			}
			if err := f.Sync(); err != nil {
				return 0, 0, err
			}
		}
		ds = append(ds, time.Since(t0))
	}
	return pct(ds, 50), pct(ds, 99), nil
}

// ReplyTable renders reply results as Markdown, with the targets of issue #3.
func ReplyTable(rs []*ReplyResult) string {
	t := newTable(rs, func(r *ReplyResult) string { return r.Store })
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	row := t.row
	row("server cost per reply, 1,000-message history, p50 / p99", "p99 < 1 ms", func(r *ReplyResult) string {
		return ms(r.OverheadP50) + " / " + ms(r.OverheadP99)
	})
	row("of which the worker (assembly + store), p50 / p99", "", func(r *ReplyResult) string {
		return ms(r.WorkP50) + " / " + ms(r.WorkP99)
	})
	row("server cost of the samples no garbage collection cycle overlapped, p50 / p99 (share of samples one did)", "", func(r *ReplyResult) string {
		return fmt.Sprintf("%s / %s (%.0f %%)", ms(r.QuietP50), ms(r.QuietP99), 100*r.GCShare)
	})
	row("floor in the same run: two fsyncs of this disk (the message's commit and the reply's), p50 / p99", "", func(r *ReplyResult) string {
		return ms(r.SyncP50) + " / " + ms(r.SyncP99)
	})
	row("server cost ÷ floor, p50", "", func(r *ReplyResult) string {
		return fmt.Sprintf("%.1f×", float64(r.OverheadP50)/float64(max(r.SyncP50, 1)))
	})
	row("replies through the queue", "≥ 2,000/s (SQLite)", func(r *ReplyResult) string { return fmt.Sprintf("%.0f/s", r.RepliesPerS) })
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }
	row("floor in the same run: the job queue's own writes per reply (River: insert / fetch / complete, batches of 25)", "", func(r *ReplyResult) string {
		return us(r.Queue.Insert) + " / " + us(r.Queue.Fetch) + " / " + us(r.Queue.Complete)
	})
	oneWriter := func(f func(r *ReplyResult) string) func(r *ReplyResult) string {
		return func(r *ReplyResult) string {
			if !r.OneWriter {
				return "(concurrent writers)"
			}
			return f(r)
		}
	}
	row("replies/s the single writer could reach doing only the queue's writes", "", oneWriter(func(r *ReplyResult) string {
		return fmt.Sprintf("%.0f/s", float64(time.Second)/float64(max(r.Queue.Total(), 1)))
	}))
	row("share of the single writer's time the queue's writes take at the measured rate", "", oneWriter(func(r *ReplyResult) string {
		return fmt.Sprintf("%.0f %%", 100*r.RepliesPerS*r.Queue.Total().Seconds())
	}))
	return t.String()
}
