package reply_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/reply"
	storepkg "github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/webhook"
)

type testBundle struct {
	st     parley.Store
	tenant string
	ctx    context.Context
	llm    *llmtest.Server // the engine's own model endpoint
}

// engines runs fn on each store with a reply worker made by mk, which gets
// a model endpoint of the engine's own.
func engines(t *testing.T, mk func(st reply.Store, srv *llmtest.Server) *reply.Worker, fn func(t *testing.T, b *testBundle)) {
	enginesWith(t, storepkg.QueueOptions{JobTimeout: 10 * time.Second}, nil, mk, fn)
}

// enginesWith is engines with queue options of its own, and more workers
// registered by add.
func enginesWith(t *testing.T, q storepkg.QueueOptions, add func(st parley.Store, workers *river.Workers),
	mk func(st reply.Store, srv *llmtest.Server) *reply.Worker, fn func(t *testing.T, b *testBundle)) {
	enginetest.Run(t, func(t *testing.T, engine string) {
		workers := river.NewWorkers()
		opts := q // the subtests run in parallel: each its own
		opts.Workers = workers
		st := enginetest.Open(t, engine, enginetest.Options{Queue: opts})
		srv := llmtest.New(t)
		w := mk(st, srv)
		w.RetryDelays = []time.Duration{10 * time.Millisecond}
		river.AddWorker(workers, w)
		if add != nil {
			add(st, workers)
		}
		require.NoError(t, st.StartWorkers(context.Background()))
		tenant, err := st.EnsureTenant(context.Background(), "t")
		require.NoError(t, err)
		fn(t, &testBundle{st: st, tenant: tenant.ID, ctx: context.Background(), llm: srv})
	})
}

// builtin and openai are workers as the server wires them, with the
// built-in responder or the test model server.
func builtin(st reply.Store, _ *llmtest.Server) *reply.Worker {
	return &reply.Worker{Store: st, Providers: &reply.Providers{}, Retrieval: memory.Recall{Store: st.(memory.Store)}}
}

func openai(st reply.Store, srv *llmtest.Server) *reply.Worker {
	return &reply.Worker{Store: st, Providers: &reply.Providers{DefaultModel: "served-model",
		Default: llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), MaxRetries: -1})},
		Retrieval: memory.Recall{Store: st.(memory.Store)}}
}

func (b *testBundle) conversation(t *testing.T, bot parley.Bot) string {
	_, err := b.st.CreateBot(b.ctx, b.tenant, &bot)
	require.NoError(t, err)
	c, _, err := b.st.GetOrCreateConversation(b.ctx, b.tenant, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: bot.ID, UserID: "u"}, CreateUser: true, Language: "en"})
	require.NoError(t, err)
	return c.ID
}

func (b *testBundle) say(t *testing.T, conv, text string, fromBot bool) error {
	_, err := b.st.AppendMessage(b.ctx, b.tenant, conv, parley.NewMessage{Text: text, Bubbles: []string{text}, FromBot: fromBot})
	return err
}

// sayDuring says first, waits until the model endpoint has had requests
// requests (the reply to first is being made), then says second.
func (b *testBundle) sayDuring(t *testing.T, conv, first, second string, requests int) {
	t.Helper()
	require.NoError(t, b.say(t, conv, first, false))
	require.Eventually(t, func() bool { return len(b.llm.Requests()) >= requests }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, b.say(t, conv, second, false))
}

// messages reads the whole conversation, oldest first.
func (b *testBundle) messages(t *testing.T, conv string) []parley.Message {
	var all []parley.Message
	for {
		q := parley.HistoryQuery{Limit: 200}
		if len(all) > 0 {
			q.AfterSeq = all[len(all)-1].Seq
		}
		page, err := b.st.ListMessages(b.ctx, b.tenant, conv, q)
		require.NoError(t, err)
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
	}
}

// replies waits until the conversation has n bot replies made by the
// pipeline and returns them with the user seqs each answers.
func (b *testBundle) replies(t *testing.T, conv string, n int) ([]parley.Message, [][2]int64) {
	var out []parley.Message
	require.Eventually(t, func() bool {
		out = out[:0]
		for _, m := range b.messages(t, conv) {
			if m.FromBot && len(m.Metadata) > 0 {
				out = append(out, m)
			}
		}
		return len(out) >= n
	}, 15*time.Second, 20*time.Millisecond)
	var answers [][2]int64
	for _, m := range out {
		var meta struct {
			Reply struct {
				Answers []int64 `json:"answers_seq"`
			} `json:"reply"`
		}
		require.NoError(t, json.Unmarshal(m.Metadata, &meta))
		answers = append(answers, [2]int64{meta.Reply.Answers[0], meta.Reply.Answers[1]})
	}
	return out, answers
}

func ms(n int) *int { return &n }

func TestReply(t *testing.T) {
	t.Parallel()
	engines(t, builtin, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Name: "Shoebot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		require.NoError(t, b.say(t, conv, "Operator here", true))
		require.NoError(t, b.say(t, conv, "Do you have red shoes?", false))
		replies, answers := b.replies(t, conv, 1)
		require.Equal(t, [][2]int64{{2, 2}}, answers)
		r := replies[0]
		require.Contains(t, r.Text, "Offline reply from Shoebot")
		require.Contains(t, r.Text, "Do you have red shoes?")
		require.Greater(t, len(r.Bubbles), 1, "paragraphs become bubbles")
		var meta map[string]map[string]any
		require.NoError(t, json.Unmarshal(r.Metadata, &meta))
		require.Equal(t, "builtin", meta["reply"]["provider"])
		require.Equal(t, true, meta["reply"]["offline"])

		// The stored reply extends the history digest like any message.
		digest := parley.ChainStart
		for _, m := range b.messages(t, conv) {
			digest = parley.ChainDigest(digest, m.FromBot, parley.Canonical(m.Bubbles, m.Text))
		}
		stored, got, err := b.st.HistoryDigest(b.ctx, b.tenant, conv, r.Seq)
		require.NoError(t, err)
		require.Equal(t, r.Seq, stored)
		require.Equal(t, digest, got)

		storedCtx, err := b.st.ReplyContext(b.ctx, b.tenant, conv, r.Seq)
		require.NoError(t, err)
		require.NotContains(t, string(storedCtx), "Do you have red shoes?", "history is stored by reference")
		raw, err := reply.ExpandContext(b.ctx, b.st, b.tenant, conv, storedCtx)
		require.NoError(t, err)
		var c struct {
			Messages []llm.Message `json:"messages"`
			Parts    []reply.Part  `json:"parts"`
			Provider string        `json:"provider"`
		}
		require.NoError(t, json.Unmarshal(raw, &c))
		require.Equal(t, "builtin", c.Provider)
		require.Equal(t, "persona", c.Parts[0].Name)
		require.Equal(t, "Do you have red shoes?", c.Messages[len(c.Messages)-1].Content)
		_, err = b.st.ReplyContext(b.ctx, "other-tenant", conv, r.Seq)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		time.Sleep(300 * time.Millisecond)
		require.Len(t, b.messages(t, conv), 3, "the operator's message triggered no reply")
		events, err := b.st.ListEvents(b.ctx, b.tenant, conv, 0, 10)
		require.NoError(t, err)
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
		}
		require.Equal(t, []string{parley.EventConversationCreated, parley.EventMessageCreated, parley.EventMessageCreated}, types)
	})
}

// readCounter counts a store's reads of messages and memories, and its
// reply locks (those asking for the user's memories too).
type readCounter struct {
	parley.Store
	messages, memories, locks, lockMemories atomic.Int32
}

func (r *readCounter) LockReply(ctx context.Context, tenantID, conversationID string, read parley.ReplyRead) (*parley.ReplyState, func(), bool, error) {
	r.locks.Add(1)
	if read.Memories > 0 {
		r.lockMemories.Add(1)
	}
	return r.Store.LockReply(ctx, tenantID, conversationID, read)
}

func (r *readCounter) reset() {
	r.messages.Store(0)
	r.memories.Store(0)
	r.locks.Store(0)
	r.lockMemories.Store(0)
}

func (r *readCounter) ListMessages(ctx context.Context, tenantID, conversationID string, q parley.HistoryQuery) ([]parley.Message, error) {
	r.messages.Add(1)
	return r.Store.ListMessages(ctx, tenantID, conversationID, q)
}

func (r *readCounter) ListMemories(ctx context.Context, tenantID string, f parley.MemoryFilter) ([]parley.Memory, error) {
	r.memories.Add(1)
	return r.Store.ListMemories(ctx, tenantID, f)
}

// TestReplyReadsWithItsState: a reply on a conversation the worker's cache
// holds reads the messages since and the user's memories with its state
// (parley.ReplyRead), not each on its own.
func TestReplyReadsWithItsState(t *testing.T) {
	t.Parallel()
	var counters sync.Map // store: *readCounter
	counted := func(st reply.Store, _ *llmtest.Server) *reply.Worker {
		rc := &readCounter{Store: st.(parley.Store)}
		counters.Store(st, rc)
		return &reply.Worker{Store: rc, Providers: &reply.Providers{}, Retrieval: memory.Recall{Store: rc}}
	}
	engines(t, counted, func(t *testing.T, b *testBundle) {
		rc, _ := counters.Load(b.st)
		reads := rc.(*readCounter)
		conv := b.conversation(t, parley.Bot{ID: "bot", Name: "Shoebot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		require.NoError(t, b.say(t, conv, "Hello there", false))
		b.replies(t, conv, 1)
		require.Positive(t, reads.messages.Load(), "the first reply fills the cache")
		reads.reset()
		require.NoError(t, b.say(t, conv, "Do you have red shoes?", false))
		_, answers := b.replies(t, conv, 2)
		require.Equal(t, [2]int64{3, 3}, answers[1])
		require.Zero(t, reads.messages.Load(), "the messages since came with the state")
		require.Zero(t, reads.memories.Load(), "the memories came with the state")

		// A bot with a debounce: the job that comes before the burst is
		// quiet is snoozed, and reads the memories only when it replies.
		slow := b.conversation(t, parley.Bot{ID: "slow", Name: "Slowbot", Reply: parley.ReplySettings{DebounceMS: ms(1000)}})
		require.NoError(t, b.say(t, slow, "Hello there", false))
		b.replies(t, slow, 1)
		reads.reset()
		require.NoError(t, b.say(t, slow, "Do you have blue shoes?", false))
		b.replies(t, slow, 2)
		require.GreaterOrEqual(t, reads.locks.Load(), int32(2), "snoozed until the burst was quiet")
		require.Equal(t, int32(1), reads.lockMemories.Load(), "the memories read once, by the attempt that replied")
		require.Zero(t, reads.memories.Load())
	})
}

func TestCoalesce(t *testing.T) {
	t.Parallel()
	engines(t, builtin, func(t *testing.T, b *testBundle) {
		// Gaps of 100 ms against a debounce of 1.5 s: under -race and a
		// loaded machine an append can take a few hundred milliseconds,
		// which must not pass for the end of the burst.
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(1500)}})
		for _, text := range []string{"hi", "I want", "a pizza"} {
			require.NoError(t, b.say(t, conv, text, false))
			time.Sleep(100 * time.Millisecond)
		}
		replies, answers := b.replies(t, conv, 1)
		require.Equal(t, [][2]int64{{1, 3}}, answers, "one reply to the burst")
		require.Contains(t, replies[0].Text, "hi I want a pizza")
		time.Sleep(1800 * time.Millisecond)
		_, answers = b.replies(t, conv, 1)
		require.Len(t, answers, 1, "and only one")
	})
}

func TestEnqueue(t *testing.T) {
	t.Parallel()
	engines(t, builtin, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{Policy: parley.PolicyEnqueue}})
		var want [][2]int64
		for _, text := range []string{"one", "two", "three"} {
			// A reply may land between two messages: each answer names
			// the seq its message was given.
			res, err := b.st.AppendMessage(b.ctx, b.tenant, conv, parley.NewMessage{Text: text, Bubbles: []string{text}})
			require.NoError(t, err)
			want = append(want, [2]int64{res.Message.Seq, res.Message.Seq})
		}
		replies, answers := b.replies(t, conv, 3)
		require.Equal(t, want, answers, "a reply per message, in order")
		require.Contains(t, replies[2].Text, "three")
	})
}

func TestReject(t *testing.T) {
	t.Parallel()
	engines(t, builtin, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{Policy: parley.PolicyReject, DebounceMS: ms(1500)}})
		require.NoError(t, b.say(t, conv, "first", false))
		err := b.say(t, conv, "second", false)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "refused while the reply is pending")
		require.NoError(t, b.say(t, conv, "operator note", true), "bot-side messages are not refused")
		b.replies(t, conv, 1)
		require.NoError(t, b.say(t, conv, "third", false), "accepted once answered")
	})
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		srv := b.llm
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{Policy: parley.PolicyInterrupt, DebounceMS: ms(0)}})
		srv.Script(llmtest.Step{Delay: 3 * time.Second, Text: "stale answer"}, llmtest.Step{Text: "fresh answer"})
		b.sayDuring(t, conv, "first", "second", 1)
		replies, answers := b.replies(t, conv, 1)
		require.Equal(t, [][2]int64{{1, 2}}, answers)
		require.Equal(t, "fresh answer", replies[0].Text)
	})
}

func TestFailure(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		srv := b.llm
		steps := make([]llmtest.Step, parley.ReplyAttempts)
		for i := range steps {
			steps[i] = llmtest.Step{Status: 503}
		}
		srv.Script(steps...)
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		require.NoError(t, b.say(t, conv, "hello?", false))
		require.Eventually(t, func() bool {
			msgs := b.messages(t, conv)
			return len(msgs) == 1 && msgs[0].Status == parley.StatusReplyFailed
		}, 15*time.Second, 20*time.Millisecond)
		events, err := b.st.ListEvents(b.ctx, b.tenant, conv, 0, 10)
		require.NoError(t, err)
		last := events[len(events)-1]
		require.Equal(t, parley.EventReplyFailed, last.Type)
		require.Contains(t, string(last.Data), "503")

		// The endpoint recovers: the next message is answered, the failed
		// one is not answered again.
		require.NoError(t, b.say(t, conv, "anyone?", false))
		_, answers := b.replies(t, conv, 1)
		require.Equal(t, [][2]int64{{2, 2}}, answers)
	})
}

// TestMessageDuringReply: a message that comes while a coalescing reply is
// being made queues no job (the reply's job holds the turn); storing the
// reply queues the one that answers it.
func TestMessageDuringReply(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		srv := b.llm
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		srv.Script(llmtest.Step{Delay: time.Second, Text: "first answer"}, llmtest.Step{Text: "second answer"})
		b.sayDuring(t, conv, "first", "second", 1)
		replies, answers := b.replies(t, conv, 2)
		require.Equal(t, [][2]int64{{1, 1}, {2, 2}}, answers)
		require.Equal(t, []string{"first answer", "second answer"}, []string{replies[0].Text, replies[1].Text})
		time.Sleep(300 * time.Millisecond)
		_, answers = b.replies(t, conv, 2)
		require.Len(t, answers, 2, "and nothing more")
	})
}

// TestMessageDuringFailedReply: a message that comes during a reply's last
// attempt (earlier ones would take it in: each attempt reads the state
// again) is answered once the failure is recorded.
func TestMessageDuringFailedReply(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		srv := b.llm
		steps := make([]llmtest.Step, parley.ReplyAttempts)
		for i := range steps {
			steps[i] = llmtest.Step{Status: 503}
		}
		steps[len(steps)-1].Delay = time.Second
		srv.Script(append(steps, llmtest.Step{Text: "back"})...)
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		b.sayDuring(t, conv, "hello?", "anyone?", parley.ReplyAttempts)
		replies, answers := b.replies(t, conv, 1)
		require.Equal(t, [][2]int64{{2, 2}}, answers)
		require.Equal(t, "back", replies[0].Text)
		msgs := b.messages(t, conv)
		require.Equal(t, parley.StatusReplyFailed, msgs[0].Status, "the first message failed")
		require.Empty(t, msgs[1].Status)
	})
}

func TestOpenAIContext(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		srv := b.llm
		temp := 0.7
		conv := b.conversation(t, parley.Bot{ID: "bot", Persona: "You are Ana, a florist.", Language: "es",
			Model: parley.ModelSettings{Temperature: &temp}, Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		require.NoError(t, b.say(t, conv, "Hola, quiero rosas", false))
		replies, _ := b.replies(t, conv, 1)
		require.Equal(t, "Hola, quiero rosas", replies[0].Text, "the test server echoes")
		var sent *llmtest.Request
		for _, r := range srv.Requests() {
			if strings.Contains(r.Messages[0].Content, "florist") {
				sent = &r
			}
		}
		require.NotNil(t, sent)
		require.Equal(t, "served-model", sent.Model)
		require.Equal(t, 0.7, *sent.Temperature)
		require.True(t, sent.Stream)
		require.Contains(t, sent.Messages[0].Content, `"en"`, "the conversation's language")
	})
}

// TestRetrieveOlderThanHistory: once a summary keeps the history read
// short, retrieval brings back older messages, skipping the newer matches
// that the history already holds.
//
// It runs with caches of three sizes: holding the whole conversation
// (retrieval searches the cache), its newest 100 messages (retrieval
// searches the store) and its newest 10 (the history is read from the
// store too).
func TestRetrieveOlderThanHistory(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 100, 10} {
		t.Run(fmt.Sprintf("cache %d", size), func(t *testing.T) {
			t.Parallel()
			retrieveOlderThanHistory(t, size)
		})
	}
}

func retrieveOlderThanHistory(t *testing.T, cacheMessages int) {
	withCache := func(st reply.Store, srv *llmtest.Server) *reply.Worker {
		w := builtin(st, srv)
		w.Cache = reply.NewCache(0, cacheMessages)
		return w
	}
	engines(t, withCache, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)},
			Model: parley.ModelSettings{ContextTokens: 600}})
		require.NoError(t, b.say(t, conv, "Noted: your dog Biscuit adores the lighthouse path.", true))
		for i := range 250 { // every one of them matches "like", none "biscuit"
			require.NoError(t, b.say(t, conv, fmt.Sprintf("Filler %d: people like weather reports, train timetables and recipes for soup.", i), true))
		}
		require.NoError(t, b.say(t, conv, "hello", false))
		b.replies(t, conv, 1) // summarises what left the window
		// SQLite's full-text index follows appends by up to 200 ms; the
		// store's search must see the first message.
		if ix, ok := b.st.(interface {
			IndexPending(ctx context.Context) (int, error)
		}); ok {
			_, err := ix.IndexPending(b.ctx)
			require.NoError(t, err)
		}
		require.NoError(t, b.say(t, conv, "Where would Biscuit like to walk?", false))
		replies, _ := b.replies(t, conv, 2)

		stored, err := b.st.ReplyContext(b.ctx, b.tenant, conv, replies[1].Seq)
		require.NoError(t, err)
		raw, err := reply.ExpandContext(b.ctx, b.st, b.tenant, conv, stored)
		require.NoError(t, err)
		var c struct {
			Messages []llm.Message `json:"messages"`
			Parts    []reply.Part  `json:"parts"`
		}
		require.NoError(t, json.Unmarshal(raw, &c))
		var retrieved *reply.Part
		for i := range c.Parts {
			if c.Parts[i].Name == "retrieved" {
				retrieved = &c.Parts[i]
			}
		}
		require.NotNil(t, retrieved, "parts: %+v", c.Parts)
		require.Equal(t, int64(1), retrieved.Seqs[0], "the stored context names the message retrieved")
		_, earlier, ok := strings.Cut(c.Messages[0].Content, "Earlier messages that may be relevant:")
		require.True(t, ok)
		require.Contains(t, earlier, "dog Biscuit adores the lighthouse path")
	})
}

// TestSlowReceiversDoNotHoldReplies: webhook deliveries run in a queue of
// their own, so receivers that hang on every delivery and take all its
// workers do not stop replies.
func TestSlowReceiversDoNotHoldReplies(t *testing.T) {
	t.Parallel()
	q := storepkg.QueueOptions{JobTimeout: 10 * time.Second, Concurrency: 2, DeliveryConcurrency: 2}
	hang := func(st parley.Store, workers *river.Workers) {
		river.AddWorker(workers, &webhook.Worker{Store: st, Schedule: []time.Duration{time.Minute},
			Client: egress.NewClient(egress.Options{AllowPrivate: true, Timeout: 30 * time.Second})})
	}
	enginesWith(t, q, hang, builtin, func(t *testing.T, b *testBundle) {
		release := make(chan struct{})
		var arrived atomic.Int32
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived.Add(1)
			<-release
		}))
		t.Cleanup(recv.Close)
		t.Cleanup(func() { close(release) }) // before the receiver closes: cleanups run last first
		_, err := b.st.CreateBot(b.ctx, b.tenant, &parley.Bot{ID: "bot", Webhook: recv.URL,
			Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		require.NoError(t, err)
		c, _, err := b.st.GetOrCreateConversation(b.ctx, b.tenant, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "u"}, CreateUser: true})
		require.NoError(t, err)
		for i := range 4 { // with conversation.created, more deliveries than workers
			require.NoError(t, b.say(t, c.ID, fmt.Sprintf("operator note %d", i), true))
		}
		require.Eventually(t, func() bool { return arrived.Load() == 2 }, 10*time.Second, 10*time.Millisecond,
			"both delivery workers are held by the receiver")

		require.NoError(t, b.say(t, c.ID, "is anyone there?", false))
		b.replies(t, c.ID, 1)
		require.Equal(t, int32(2), arrived.Load(), "the deliveries are still held")
	})
}
