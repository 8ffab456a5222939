package reply

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/store/storetest"
)

// memStore is the part of a store the cache reads, over a slice: these
// tests are about which messages the cache holds and returns. The worker
// tests run the cache against the real stores.
type memStore struct {
	Store // the rest is not called
	msgs  []parley.Message
	read  int // messages returned by ListMessages
	calls int // ListMessages calls
}

func (s *memStore) say(text string, fromBot bool) {
	s.msgs = append(s.msgs, parley.Message{Seq: int64(len(s.msgs) + 1), Text: text, FromBot: fromBot,
		Bubbles: []string{text}, Metadata: []byte(`{}`)})
}

func (s *memStore) ListMessages(_ context.Context, _, _ string, q parley.HistoryQuery) ([]parley.Message, error) {
	out := []parley.Message{} // an empty page, as the stores return it
	for _, m := range s.msgs {
		if m.Seq > q.AfterSeq && (q.BeforeSeq <= 0 || m.Seq < q.BeforeSeq) {
			out = append(out, m)
		}
	}
	if q.Order == parley.Descending {
		slices.Reverse(out)
	}
	out = out[:min(len(out), q.Limit)]
	s.read += len(out)
	s.calls++
	return out, nil
}

func conversationOf(n int) *memStore {
	s := &memStore{}
	for i := range n {
		s.say(fmt.Sprintf("message %d about topic%d and the weather, said at length to take some tokens", i+1, i%7), i%2 == 1)
	}
	return s
}

func seqs(ms []parley.Message) []int64 {
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

// TestCacheHistory: the history a reply reads from the cache is the one it
// reads from the store, whatever the cache holds.
func TestCacheHistory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		messages      int
		target        int64
		budget        int
		summarySeq    int64
		cacheMessages int
	}{
		{"short conversation", 5, 5, 4000, 0, 100},
		{"budget covered, no summary", 300, 300, 400, 0, 500},
		{"reaches back to the summary", 300, 300, 400, 100, 500},
		{"summary inside the budget", 300, 300, 4000, 290, 500},
		{"cache holds the newest only", 300, 300, 400, 250, 100},
		{"cache too short: read from the store", 300, 300, 4000, 0, 20},
		{"target behind the newest", 300, 200, 400, 150, 500},
		{"history capped", 1500, 1500, 1 << 30, 0, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := conversationOf(tc.messages)
			w := &Worker{Store: s, Cache: NewCache(0, tc.cacheMessages)}
			st := &parley.ReplyState{Conversation: parley.Conversation{ID: "c"}, SummarySeq: tc.summarySeq,
				Bot: parley.Bot{Model: parley.ModelSettings{ContextTokens: tc.budget}}}
			cached, err := w.history(context.Background(), st, tc.target)
			require.NoError(t, err)
			fromStore, err := w.storeHistory(context.Background(), st, tc.target, tc.budget)
			require.NoError(t, err)
			require.Equal(t, seqs(fromStore), seqs(cached))

			// The window ends at the target, holds at most historyCap
			// messages, and unless capped or at the first message, covers
			// the budget and reaches back to the summary.
			require.Equal(t, tc.target, cached[len(cached)-1].Seq)
			require.LessOrEqual(t, len(cached), historyCap)
			if first := cached[0].Seq; first > 1 && len(cached) < historyCap {
				tokens := 0
				for _, m := range cached {
					tokens += EstimateTokens(m.Text) + messageOverhead
				}
				require.Greater(t, tokens, tc.budget)
				require.LessOrEqual(t, first, tc.summarySeq+1)
				if first < tc.summarySeq+1 {
					require.LessOrEqual(t, tokens-(EstimateTokens(cached[0].Text)+messageOverhead), tc.budget,
						"one message fewer would have done")
				}
			}
			for _, m := range cached {
				require.Nil(t, m.Metadata, "the cache keeps what assembly reads")
			}
		})
	}
}

// TestCacheReadsWhatIsNew: after the first reply, a reply reads from the
// store only the messages stored since the previous one.
func TestCacheReadsWhatIsNew(t *testing.T) {
	t.Parallel()
	s := conversationOf(300)
	w := &Worker{Store: s, Cache: NewCache(0, 0)}
	st := &parley.ReplyState{Conversation: parley.Conversation{ID: "c"}}
	h, err := w.history(context.Background(), st, 300)
	require.NoError(t, err)
	require.Equal(t, 300, s.read, "the first reply loads the conversation")
	require.Equal(t, int64(300), h[len(h)-1].Seq)

	s.read = 0
	s.say("the reply", true)
	s.say("and a new question", false)
	h, err = w.history(context.Background(), st, 302)
	require.NoError(t, err)
	require.Equal(t, 2, s.read)
	require.Equal(t, "and a new question", h[len(h)-1].Text)

	s.read = 0
	_, err = w.history(context.Background(), st, 302)
	require.NoError(t, err)
	require.Zero(t, s.read)
}

// TestCacheSearch: the cache answers SearchMessages as the store does:
// per word (by its stem), the newest holders below the bound, with their
// neighbours, each once, newest first. Run against both stores.
func TestCacheSearch(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		tenant, c := storetest.NewConversation(t, st)
		say := func(text string, fromBot bool) {
			_, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: text, Bubbles: []string{text}, FromBot: fromBot, NoReply: true})
			require.NoError(t, err)
		}
		for i := range 300 {
			say(fmt.Sprintf("message %d about topic%d and the weather, said at length", i+1, i%7), i%2 == 1)
		}
		say("Biscuit the dog walks by the LIGHTHOUSE", false) // 301
		say("Dogs walking, again", true)                      // 302
		if ix, ok := st.(interface {
			IndexPending(ctx context.Context) (int, error)
		}); ok {
			_, err := ix.IndexPending(ctx)
			require.NoError(t, err)
		}
		cache := NewCache(0, 0)
		cc := cache.conversation(c.ID)
		require.NoError(t, cc.update(ctx, st, tenant.ID, cache.maxMessages, nil))
		cache.done(cc)
		require.True(t, cc.whole, "a conversation held from its first message is searched in the cache")

		for _, tc := range []struct {
			terms           []string
			before          int64
			perTerm, around int
		}{
			{[]string{"topic3"}, 301, 10, 0},
			{[]string{"topic3", "weather"}, 200, 12, 0},
			{[]string{"topic3", "weather"}, 200, 12, 3},
			{[]string{"lighthouse", "biscuit"}, 303, 5, 0},
			{[]string{"walking", "dogs"}, 0, 5, 2}, // by their stems: "walks", "dog"
			{[]string{"lighthouse"}, 301, 5, 3},    // below the bound: none, nor its neighbours
			{[]string{"absent"}, 0, 5, 1},
			{[]string{"message"}, 3, 10, 3},
			{[]string{"topic1"}, 5, 10, 3}, // a neighbour past the bound is left out
		} {
			t.Run(fmt.Sprintf("%s before %d around %d", strings.Join(tc.terms, "+"), tc.before, tc.around), func(t *testing.T) {
				want, err := st.SearchMessages(ctx, tenant.ID, c.ID, tc.terms, tc.before, tc.perTerm, tc.around)
				require.NoError(t, err)
				got, err := cc.SearchMessages(ctx, tenant.ID, c.ID, tc.terms, tc.before, tc.perTerm, tc.around)
				require.NoError(t, err)
				require.Equal(t, seqs(want), seqs(got))
				for i := range got {
					require.Equal(t, want[i].Text, got[i].Text)
				}
			})
		}
		_, err := cc.SearchMessages(ctx, tenant.ID, "another", []string{"topic1"}, 0, 5, 0)
		require.Error(t, err, "the cache answers for its own conversation only")
	})
}

// TestCacheIndexesWhenSearched: the cache's word index is made by the
// first search and takes in, at each search after, the messages that came
// since.
func TestCacheIndexesWhenSearched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := conversationOf(10)
	c := NewCache(0, 0)
	cc := c.conversation("c")
	defer c.done(cc)
	require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
	require.Nil(t, cc.vocab, "no index before a search")
	before := cc.bytes
	got, err := cc.SearchMessages(ctx, "t", "c", []string{"topic3"}, 0, 5, 0)
	require.NoError(t, err)
	require.Equal(t, []int64{4}, seqs(got))
	require.Greater(t, cc.bytes, before, "the index counts in the entry's size")
	s.say("the lighthouse at dawn", false)
	s.say("a topic3 again", true)
	require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
	got, err = cc.SearchMessages(ctx, "t", "c", []string{"lighthouse", "topic3"}, 0, 5, 0)
	require.NoError(t, err)
	require.Equal(t, []int64{12, 11, 4}, seqs(got), "the messages since the last search are found too")
}

// TestCacheUsesMessagesRead: messages a reply read with its state, after
// the newest the cache held (Cache.newest), bring the entry up to date
// without a read of the store, but for a full page.
func TestCacheUsesMessagesRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := conversationOf(10)
	c := NewCache(0, 0)
	_, _, ok := c.newest("c")
	require.False(t, ok, "nothing held")
	cc := c.conversation("c")
	require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
	_, _, ok = c.newest("c")
	require.False(t, ok, "a reply is using the entry")
	c.done(cc)
	after, _, ok := c.newest("c")
	require.True(t, ok)
	require.Equal(t, int64(10), after)

	readAfter := func(seq int64) []parley.Message {
		page, err := s.ListMessages(ctx, "t", "c", parley.HistoryQuery{AfterSeq: seq, Limit: loadPage, Order: parley.Ascending})
		require.NoError(t, err)
		s.calls = 0
		return page
	}
	update := func(read []parley.Message) {
		t.Helper()
		cc := c.conversation("c")
		defer c.done(cc)
		require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, read))
	}
	s.say("eleven", false)
	s.say("twelve", true)
	update(readAfter(after))
	require.Zero(t, s.calls)
	require.Equal(t, int64(12), cc.last())

	// Read after 10, while another reply brought the entry to 12.
	s.say("thirteen", false)
	update(readAfter(10))
	require.Zero(t, s.calls)
	require.Equal(t, []int64{11, 12, 13}, seqs(msgsOf(cc)[10:]), "each once, in order")

	update(readAfter(13))
	require.Zero(t, s.calls, "none after: nothing to read")

	// A full page may not be all: the rest is read from the store.
	for i := range loadPage + 20 {
		s.say(fmt.Sprintf("more %d", i), false)
	}
	update(readAfter(13))
	require.Equal(t, 1, s.calls)
	require.Equal(t, int64(13+loadPage+20), cc.last())
	require.Equal(t, cc.last(), int64(len(cc.msgs)), "consecutive from the first")
}

func msgsOf(cc *convCache) []parley.Message {
	out := make([]parley.Message, len(cc.msgs))
	for i, m := range cc.msgs {
		out[i] = m.Message
	}
	return out
}

// TestCacheBounds: a conversation that outgrows the cache keeps its newest
// messages and loses its index; the least recently used conversations
// leave when the cache is full.
func TestCacheBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := conversationOf(90)
	c := NewCache(0, 100)
	cc := c.conversation("c")
	require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
	c.done(cc)
	require.True(t, cc.whole)
	_, err := cc.SearchMessages(ctx, "t", "c", []string{"more"}, 0, 5, 0)
	require.NoError(t, err)
	require.NotNil(t, cc.vocab, "indexed by the search")
	for i := range 20 {
		s.say(fmt.Sprintf("more %d", i), false)
	}
	cc = c.conversation("c")
	require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
	c.done(cc)
	require.Len(t, cc.msgs, 75)
	require.Equal(t, int64(110), cc.last())
	require.False(t, cc.whole, "no longer held from the first message")
	require.Nil(t, cc.vocab, "its index gone")
	require.Greater(t, cc.msgs[0].Seq, int64(1))

	// Room for about two of these conversations.
	one := NewCache(0, 0)
	cc = one.conversation("c")
	require.NoError(t, cc.update(ctx, s, "t", one.maxMessages, nil))
	one.done(cc)
	small := NewCache(2*one.bytes+one.bytes/2, 0)
	for _, id := range []string{"a", "b", "c"} {
		cc := small.conversation(id)
		require.NoError(t, cc.update(ctx, s, "t", small.maxMessages, nil))
		small.done(cc)
	}
	require.Len(t, small.m, 2)
	require.LessOrEqual(t, small.bytes, small.maxBytes)
	_, kept := small.m["a"]
	require.False(t, kept, "the least recently used left")

	small.forget("b")
	require.Len(t, small.m, 1)
}

// goneStore is a store whose conversation was deleted.
type goneStore struct{ *memStore }

func (goneStore) LockReply(context.Context, string, string, parley.ReplyRead) (*parley.ReplyState, func(), bool, error) {
	return nil, nil, false, parley.Errorf(parley.ENOTFOUND, "conversation not found")
}

// TestDeletedConversationLeavesCache: the reply job of a conversation
// deleted meanwhile is cancelled and drops the conversation's messages from
// the cache.
func TestDeletedConversationLeavesCache(t *testing.T) {
	ctx := context.Background()
	s := conversationOf(10)
	c := NewCache(0, 0)
	for _, id := range []string{"gone", "kept"} {
		cc := c.conversation(id)
		require.NoError(t, cc.update(ctx, s, "t", c.maxMessages, nil))
		c.done(cc)
	}
	kept := c.m["kept"].Value.(*convCache).accounted
	require.Equal(t, 2*kept, c.bytes)

	w := &Worker{Store: goneStore{s}, Providers: &Providers{}, Cache: c}
	err := w.Work(ctx, &river.Job[parley.ReplyJob]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 5},
		Args: parley.ReplyJob{TenantID: "t", ConversationID: "gone"}})
	var cancel *river.JobCancelError
	require.ErrorAs(t, err, &cancel)
	require.NotContains(t, c.m, "gone")
	require.Contains(t, c.m, "kept")
	require.Equal(t, kept, c.bytes)
}
