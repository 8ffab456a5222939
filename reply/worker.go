// Package reply makes the bot's replies: a durable job per user message (or
// burst), context assembly within a token budget, the model call, and the
// reply stored exactly once.
package reply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// Store is what the worker needs from a store.
type Store interface {
	parley.Conversations
	parley.Replies
}

// Retrieval finds what a reply's context adds to its history for the
// pending text: the user's memories, best first, and the conversation's
// messages with a seq below before (older than the history the reply
// holds; 0: any), best first, found through msgs (the store, or the
// reply's cache of the conversation: they answer alike; nil: no messages).
// The memories capability provides it (memory.Recall, which ranks as GET
// .../recall does); without one, a reply's context is its history alone.
type Retrieval interface {
	Retrieve(ctx context.Context, st *parley.ReplyState, query string, before int64, msgs parley.MessageSearcher) ([]parley.Memory, []parley.Message, error)
}

// Worker is the River worker of parley.ReplyJob.
type Worker struct {
	river.WorkerDefaults[parley.ReplyJob]

	Store     Store
	Providers *Providers
	Retrieval Retrieval // optional
	Library   Library   // optional: replies may send library items
	Metrics   *Metrics
	Logger    *slog.Logger
	// JobTimeout bounds one attempt.
	JobTimeout time.Duration
	// RetryDelays override the waits between attempts (tests).
	RetryDelays []time.Duration
	// OnDelta, when set, receives streamed text as the model makes it.
	OnDelta func(tenantID, conversationID string, uptoSeq int64, text string)
	// Cache keeps recently answered conversations' messages; nil: one of
	// the default size, made on first use.
	Cache *Cache

	cacheOnce sync.Once
}

func (w *Worker) cache() *Cache {
	w.cacheOnce.Do(func() {
		if w.Cache == nil {
			w.Cache = NewCache(0, 0)
		}
	})
	return w.Cache
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// Timeout bounds one attempt.
func (w *Worker) Timeout(*river.Job[parley.ReplyJob]) time.Duration { return w.jobTimeout() }

func (w *Worker) jobTimeout() time.Duration {
	if w.JobTimeout > 0 {
		return w.JobTimeout
	}
	return 2 * time.Minute
}

// retryDelays are the waits before attempts 2, 3, ...: a chat user will not
// wait for River's default hour-long back-off.
var retryDelays = []time.Duration{time.Second, 3 * time.Second, 10 * time.Second, 30 * time.Second}

// NextRetry spaces retries for a chat's patience.
func (w *Worker) NextRetry(job *river.Job[parley.ReplyJob]) time.Time {
	delays := retryDelays
	if len(w.RetryDelays) > 0 {
		delays = w.RetryDelays
	}
	i := min(max(job.Attempt-1, 0), len(delays)-1)
	return time.Now().Add(delays[i])
}

// historyPage and historyCap bound what one reply reads from the store when
// the cache cannot tell: pages of the newest messages until the budget is
// covered and the summary has caught up.
const (
	historyPage = 100
	historyCap  = 1000
)

// What a reply's context holds of what retrieval finds: the best memories
// and earlier messages.
const (
	retrieveMemories = 5
	retrieveKeep     = 3
)

// Work makes one reply.
func (w *Worker) Work(ctx context.Context, job *river.Job[parley.ReplyJob]) (err error) {
	defer func() {
		// A job that gives up without having claimed its turn must not
		// leave the conversation believing a reply job is queued.
		var snooze *river.JobSnoozeError
		if err != nil && job.Attempt >= job.MaxAttempts && !errors.As(err, &snooze) {
			_, _ = w.Store.ClaimReply(context.WithoutCancel(ctx), job.Args.TenantID, job.Args.ConversationID)
		}
	}()
	start := time.Now()
	a := job.Args
	// The conversation's reply lock, if free, and its state, read at once
	// with what the reply reads next: the messages its cache lacks, the
	// user's memories. Not the memories for a coalescing job younger than
	// the bot's debounce: it is most likely snoozed before it uses them
	// (and reads them later, with its state or by itself).
	var read parley.ReplyRead
	after, debounce, held := w.cache().newest(a.ConversationID)
	if held {
		read.AfterSeq, read.Messages = after, loadPage
	}
	if w.Retrieval != nil && (a.Seq > 0 || time.Since(job.CreatedAt) >= debounce) {
		read.Memories = parley.RecallMemories
	}
	st, unlock, locked, err := w.Store.LockReply(ctx, a.TenantID, a.ConversationID, read)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		w.cache().forget(a.ConversationID)
		return river.JobCancel(err) // the conversation was deleted
	}
	if err != nil {
		return err
	}
	if locked {
		defer unlock()
	}
	target := st.LastUserSeq
	if a.Seq > 0 {
		target = a.Seq
	}
	if st.AnsweredSeq >= target {
		if a.Seq > 0 {
			w.Metrics.outcome("already_answered")
			return nil
		}
		// Nothing to answer: an earlier reply covered it. Still take the
		// turn, and look again: a message that came meanwhile queued no job
		// of its own, counting on this one.
		last, err := w.Store.ClaimReply(ctx, a.TenantID, a.ConversationID)
		if err != nil {
			return err
		}
		if last <= st.AnsweredSeq {
			w.Metrics.outcome("already_answered")
			return nil
		}
		if st, err = w.Store.ReplyState(ctx, a.TenantID, a.ConversationID); err != nil {
			return err
		}
		target = st.LastUserSeq
	}
	if !locked {
		return river.JobSnooze(100 * time.Millisecond) // another reply is being made here
	}

	history, err := w.history(ctx, st, target)
	if err != nil {
		return err
	}
	override := len(a.History) > 0
	if override {
		// A V1 client whose history diverged from the stored one: its
		// history is the context (V1's contract), followed by the messages
		// being answered.
		history = clientHistory(a.History, history, st.AnsweredSeq)
	}
	if a.Seq > 0 { // enqueue: answer in order
		for _, m := range history {
			if !m.FromBot && m.Seq > st.AnsweredSeq && m.Seq < target {
				return river.JobSnooze(100 * time.Millisecond)
			}
		}
	} else if wait := debounceLeft(st.Bot.Reply, history); wait > 0 {
		// The burst is still going: wait until it has been quiet for the
		// debounce. Sliding, so a long burst still gets one reply.
		return river.JobSnooze(wait)
	}
	// The turn. A coalescing job (the default) keeps it while it works and
	// ends it when its reply is stored (Reply.Release): a message that
	// comes meanwhile finds a job queued and queues none, and storing the
	// reply queues the job that answers it, in the same transaction. Other
	// jobs claim the turn now, a write of its own: under interrupt a new
	// message must queue the job that supersedes this one, under enqueue
	// every message has a job anyway, and a V1 call's job carries its
	// client's history.
	policy := st.Bot.Reply.EffectivePolicy()
	interrupt := policy == parley.PolicyInterrupt
	release := a.Seq == 0 && !override && (policy == parley.PolicyCoalesce || policy == parley.PolicyReject)
	last := target
	if !release {
		if last, err = w.Store.ClaimReply(ctx, a.TenantID, a.ConversationID); err != nil {
			return err
		}
	}
	if a.Seq == 0 && last > target {
		if st, err = w.Store.ReplyState(ctx, a.TenantID, a.ConversationID); err != nil {
			return err
		}
		target = st.LastUserSeq
		if history, err = w.history(ctx, st, target); err != nil {
			return err
		}
		if override {
			history = clientHistory(a.History, history, st.AnsweredSeq)
		}
	}
	provider, model, err := w.Providers.For(a.TenantID, st.Bot)
	if err != nil {
		return w.fail(ctx, job, target, release, permanent{err})
	}
	in := Input{Bot: st.Bot, Conversation: st.Conversation, User: st.User, Summary: st.Summary,
		SummarySeq: st.SummarySeq, History: history, AnsweredSeq: st.AnsweredSeq}
	query := pendingText(history, st.AnsweredSeq)
	if in.Memories, in.Retrieved, err = w.retrieve(ctx, st, query, history, override); err != nil {
		return err
	}
	_, builtin := provider.(llm.Builtin)
	var sending []parley.ContentItem // what the reply sends: the built-in responder's pick, or the model's
	if w.Library != nil && st.HasContent {
		if builtin {
			if what := asksForMedia(query); what != "" {
				if sending, err = w.Library.Search(ctx, a.TenantID, st.Bot.ID, what, "image", 0, 1); err != nil {
					return err
				}
			}
		} else if in.Media, err = w.Library.Search(ctx, a.TenantID, st.Bot.ID, query, "", 0, mediaOffered); err != nil {
			return err
		}
	}
	c := Assemble(in)
	summary, summarySeq := st.Summary, st.SummarySeq
	if len(c.Unsummarised) > 0 && !override {
		// Messages left the window: extend the summary with them, then
		// assemble again so that the model sees the extended summary.
		maxTokens := c.Budget / summaryShare
		if builtin {
			summary = ExtractiveSummary(summary, c.Unsummarised, maxTokens)
		} else if summary, err = ModelSummary(ctx, provider, model, summary, c.Unsummarised, maxTokens); err != nil {
			return w.fail(ctx, job, target, release, fmt.Errorf("summary: %w", err))
		}
		summarySeq = c.Unsummarised[len(c.Unsummarised)-1].Seq
		in.Summary, in.SummarySeq = summary, summarySeq
		c = Assemble(in)
	}
	assembled := time.Since(start)

	genCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if interrupt {
		go w.watchInterrupt(genCtx, cancel, st, target)
	}
	req := llm.Request{Model: model, Messages: c.Messages, Temperature: st.Bot.Model.Temperature,
		MaxTokens: st.Bot.Model.MaxTokens, Hints: c.Hints}
	for _, it := range sending {
		req.Hints.Media = append(req.Hints.Media, firstNonEmpty(it.Title, it.Caption, it.FileName, it.ID))
	}
	if len(in.Media) > 0 {
		req.Tools = []llm.Tool{sendMediaTool(in.Media)}
	}
	if w.OnDelta != nil {
		req.OnDelta = func(text string) { w.OnDelta(a.TenantID, a.ConversationID, target, text) }
	}
	res, err := provider.Complete(genCtx, req)
	if err != nil && interrupt && genCtx.Err() != nil && ctx.Err() == nil {
		w.Metrics.outcome("interrupted")
		return nil // a newer message arrived: its job answers everything
	}
	if err != nil {
		return w.fail(ctx, job, target, release, err)
	}
	if len(in.Media) > 0 {
		sending = chosenMedia(res.ToolCalls, in.Media)
		if strings.TrimSpace(res.Text) == "" && len(res.ToolCalls) > 0 {
			// The model only called the tool: tell it what was sent and
			// ask for the words that go with it.
			if res, err = w.afterTools(genCtx, provider, req, res, sending); err != nil {
				return w.fail(ctx, job, target, release, err)
			}
		}
	}
	bubbles := SplitBubbles(res.Text)
	if len(bubbles) == 0 {
		return w.fail(ctx, job, target, release, errors.New("the model returned an empty reply"))
	}
	queueWait := max(start.Sub(job.ScheduledAt), 0)
	meta, _ := json.Marshal(map[string]any{ // plain values: cannot fail
		"reply": map[string]any{
			"provider": res.Provider, "model": res.Model, "prompt_tokens": res.PromptTokens,
			"completion_tokens": res.CompletionTokens, "finish_reason": res.FinishReason,
			"queue_wait_ms": queueWait.Milliseconds(), "model_latency_ms": res.Latency.Milliseconds(),
			"assembly_us": assembled.Microseconds(), "answers_seq": []int64{firstPending(history, st.AnsweredSeq, target), target},
			"offline": res.Provider == llm.Builtin{}.Name(),
		},
	})
	ctxJSON := c.marshalStored(res.Provider, res.Model, !override)
	var media []parley.Media
	for _, it := range sending {
		media = append(media, mediaOf(it))
	}
	m, err := w.Store.StoreReply(ctx, a.TenantID, a.ConversationID, parley.Reply{UptoSeq: target,
		Message: parley.NewMessage{FromBot: true, Text: strings.Join(bubbles, "\n\n"), Bubbles: bubbles, Metadata: meta,
			AttachedMedia: media},
		Context: ctxJSON, Summary: summary, SummarySeq: summarySeq, DropIfNewer: interrupt, Release: release})
	if err != nil {
		return err
	}
	if m == nil {
		w.Metrics.outcome("dropped")
		return nil
	}
	w.Metrics.observe(queueWait, res.Latency, time.Since(start)+queueWait)
	w.Metrics.outcome("replied")
	return nil
}

// afterTools answers a reply's tool calls (send_media: which items go)
// and asks the model again, with no tools, for the reply's text. The
// usage of both requests is the reply's.
func (w *Worker) afterTools(ctx context.Context, provider llm.Provider, req llm.Request, first *llm.Response, sent []parley.ContentItem) (*llm.Response, error) {
	req.Messages = append(slices.Clone(req.Messages), llm.Message{Role: llm.RoleAssistant, ToolCalls: first.ToolCalls})
	for _, call := range first.ToolCalls {
		result := "unknown tool"
		if call.Name == mediaTool {
			ids := make([]string, len(sent))
			for i, it := range sent {
				ids[i] = it.ID
			}
			result = "sent: " + strings.Join(ids, ", ")
			if len(ids) == 0 {
				result = "nothing sent: no such items"
			}
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Content: result})
	}
	req.Tools = nil
	res, err := provider.Complete(ctx, req)
	if err != nil {
		return nil, err
	}
	res.PromptTokens += first.PromptTokens
	res.CompletionTokens += first.CompletionTokens
	res.Latency += first.Latency
	return res, nil
}

// fail retries the job, or after its last attempt records the failure.
// permanent marks a cause that another attempt cannot mend (the bot's
// endpoint is not allowed): the reply fails at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

func (w *Worker) fail(ctx context.Context, job *river.Job[parley.ReplyJob], target int64, release bool, cause error) error {
	var perm permanent
	if job.Attempt < job.MaxAttempts && !errors.As(cause, &perm) {
		w.Metrics.outcome("retried")
		return cause
	}
	w.logger().Error("reply failed", "conversation_id", job.Args.ConversationID, "attempts", job.Attempt, "err", cause)
	if err := w.Store.FailReply(ctx, job.Args.TenantID, job.Args.ConversationID, target, cause.Error(), release); err != nil {
		return errors.Join(cause, err)
	}
	w.Metrics.outcome("failed")
	return nil
}

// history returns the newest messages up to target, oldest first: enough
// to fill the budget and to reach back to the summary. They come from the
// cache, brought up to date with what was stored since the last reply.
func (w *Worker) history(ctx context.Context, st *parley.ReplyState, target int64) ([]parley.Message, error) {
	budget := st.Bot.Model.ContextTokens
	if budget <= 0 {
		budget = DefaultBudget
	}
	c := w.cache()
	cc := c.conversation(st.Conversation.ID)
	defer c.done(cc)
	cc.debounce = st.Bot.Reply.Debounce()
	if err := cc.update(ctx, w.Store, st.TenantID, c.maxMessages, st.Messages); err != nil {
		return nil, err
	}
	if h, ok := cc.history(target, budget, st.SummarySeq); ok {
		return h, nil
	}
	// The cache holds only a conversation's newest messages, and this
	// reply (an enqueued one, far behind) needs older ones.
	return w.storeHistory(ctx, st, target, budget)
}

// storeHistory is history read from the store, in pages of the newest
// messages until the window is found.
func (w *Worker) storeHistory(ctx context.Context, st *parley.ReplyState, target int64, budget int) ([]parley.Message, error) {
	var msgs []cachedMessage // newest first while reading
	before := target + 1
	for {
		page, err := w.Store.ListMessages(ctx, st.TenantID, st.Conversation.ID,
			parley.HistoryQuery{Limit: historyPage, Order: parley.Descending, BeforeSeq: before})
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			msgs = append(msgs, newCached(m))
		}
		if len(page) < historyPage || len(msgs) >= historyCap {
			break
		}
		before = page[len(page)-1].Seq
		// Enough when the oldest page reaches back to the summary and,
		// with everything newer, covers the budget.
		if before <= st.SummarySeq+1 {
			tokens := 0
			for _, m := range msgs {
				tokens += m.tokens
			}
			if tokens > budget {
				break
			}
		}
	}
	slices.Reverse(msgs)
	start, _ := windowStart(msgs, budget, st.SummarySeq)
	out := make([]parley.Message, 0, len(msgs)-start)
	for _, m := range msgs[start:] {
		out = append(out, m.Message)
	}
	return out, nil
}

// retrieve finds the memories and the earlier messages relevant to the
// pending text (Retrieval), as many of each as a reply's context holds.
// The messages are those older than the history read (the history holds
// the newer ones; a search without the bound would spend its candidates on
// them), none for a client's own history (override).
func (w *Worker) retrieve(ctx context.Context, st *parley.ReplyState, query string, history []parley.Message, override bool) ([]parley.Memory, []parley.Message, error) {
	if w.Retrieval == nil {
		return nil, nil, nil
	}
	var before int64
	if len(history) > 0 {
		before = history[0].Seq
	}
	var msgs parley.MessageSearcher = w.Store
	if override || query == "" || before == 1 { // nothing older than the history read
		msgs = nil
	} else {
		c := w.cache()
		cc := c.conversation(st.Conversation.ID)
		defer c.done(cc)
		if cc.whole && before > 0 {
			msgs = cc // the whole conversation is in the cache, searched by its word index
		}
	}
	mems, found, err := w.Retrieval.Retrieve(ctx, st, query, before, msgs)
	if err != nil {
		return nil, nil, err
	}
	return mems[:min(len(mems), retrieveMemories)], found[:min(len(found), retrieveKeep)], nil
}

func (w *Worker) watchInterrupt(ctx context.Context, cancel context.CancelFunc, st *parley.ReplyState, target int64) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now, err := w.Store.ReplyState(ctx, st.TenantID, st.Conversation.ID)
			if err == nil && now.LastUserSeq > target {
				cancel()
				return
			}
		}
	}
}

// clientHistory puts a client's history in place of the stored one, then
// the user messages being answered (from the stored history). Client items
// get sequence numbers up to the answered mark, so that the assembly keeps
// them in order and never takes them for messages being answered.
func clientHistory(items []parley.HistoryItem, stored []parley.Message, answered int64) []parley.Message {
	var pending []parley.Message
	for _, m := range stored {
		if !m.FromBot && m.Seq > answered {
			pending = append(pending, m)
		}
	}
	out := make([]parley.Message, 0, len(items)+len(pending))
	for i, it := range items {
		out = append(out, parley.Message{Seq: answered - int64(len(items)-1-i), FromBot: it.FromBot,
			Text: strings.Join(it.Bubbles, "\n"), Bubbles: it.Bubbles})
	}
	return append(out, pending...)
}

// debounceLeft is how long to wait until the newest user message is as old
// as the bot's debounce.
func debounceLeft(settings parley.ReplySettings, history []parley.Message) time.Duration {
	for i := len(history) - 1; i >= 0; i-- {
		if !history[i].FromBot {
			return settings.Debounce() - time.Since(history[i].CreatedAt)
		}
	}
	return 0
}

// firstPending is the seq of the oldest user message being answered.
func firstPending(history []parley.Message, answered, target int64) int64 {
	for _, m := range history {
		if !m.FromBot && m.Seq > answered {
			return m.Seq
		}
	}
	return target
}

// pendingText is the text of the user messages being answered.
func pendingText(history []parley.Message, answered int64) string {
	var parts []string
	for _, m := range history {
		if !m.FromBot && m.Seq > answered {
			parts = append(parts, m.Text)
		}
	}
	return strings.Join(parts, " ")
}
