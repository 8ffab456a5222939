package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) replies(t *testing.T) {
	t.Run("LockReply", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c1 := conversation(t, b, b.t1, "bot-1", "user-1")
		c2 := conversation(t, b, b.t1, "bot-1", "user-2")
		lock := func(tenant *parley.Tenant, c *parley.Conversation) (func(), bool) {
			t.Helper()
			st, unlock, ok, err := b.store.LockReply(b.ctx, tenant.ID, c.ID, parley.ReplyRead{})
			require.NoError(t, err)
			require.Equal(t, c.ID, st.Conversation.ID, "the state is read, taken or not")
			require.Equal(t, c.UserID, st.User.ID)
			require.Equal(t, tenant.ID, st.TenantID)
			require.Equal(t, ok, unlock != nil)
			return unlock, ok
		}
		_, _, _, err := b.store.LockReply(b.ctx, b.t2.ID, c1.ID, parley.ReplyRead{Messages: 10, Memories: 10})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's conversation")
		unlock, ok := lock(b.t1, c1)
		require.True(t, ok, "another tenant's attempt took nothing")
		_, ok = lock(b.t1, c1)
		require.False(t, ok, "one reply at a time per conversation")
		unlock2, ok := lock(b.t1, c2)
		require.True(t, ok, "conversations are independent")
		unlock2()
		unlock()
		unlock() // giving it back twice is harmless
		unlock, ok = lock(b.t1, c1)
		require.True(t, ok, "free again once given back")
		unlock()

		// A reply stored by the lock's holder gives the lock back with it.
		appendText(t, b, b.t1, c1.ID, "hello")
		unlock, ok = lock(b.t1, c1)
		require.True(t, ok)
		_, err = b.store.StoreReply(b.ctx, b.t1.ID, c1.ID, parley.Reply{UptoSeq: 1,
			Message: parley.NewMessage{FromBot: true, Text: "hi", Bubbles: []string{"hi"}}})
		require.NoError(t, err)
		st, next, ok, err := b.store.LockReply(b.ctx, b.t1.ID, c1.ID, parley.ReplyRead{})
		require.NoError(t, err)
		require.True(t, ok, "free once the reply is stored")
		require.Equal(t, int64(1), st.AnsweredSeq, "the state read after the lock was taken")
		unlock() // the first holder's: gives back nothing now
		_, ok = lock(b.t1, c1)
		require.False(t, ok, "the first holder's unlock leaves the second's lock")
		next()
		_, err = b.store.StoreReply(b.ctx, b.t1.ID, c1.ID, parley.Reply{UptoSeq: 1,
			Message: parley.NewMessage{FromBot: true, Text: "again", Bubbles: []string{"again"}}})
		require.NoError(t, err, "nothing to store, and no lock held: nothing to give back")
		unlock, ok = lock(b.t1, c1)
		require.True(t, ok)
		unlock()
	})

	t.Run("ReplyStateHasContent", func(t *testing.T) {
		// Whether the conversation's bot has a library item comes with the
		// reply's state: its own tenant's and bot's items only.
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "ana")
		conversation(t, b, b.t1, "bot-2", "ana")
		conversation(t, b, b.t2, "bot-1", "ana")
		add := func(tenant *parley.Tenant, bot, sum string) {
			t.Helper()
			_, _, err := b.store.AddContent(b.ctx, tenant.ID, &parley.ContentItem{BotID: bot, SHA256: sum, MediaType: "image/png",
				Size: 10, Width: 4, Height: 3, Title: "Red car"})
			require.NoError(t, err)
		}
		has := func() bool {
			t.Helper()
			st, err := b.store.ReplyState(b.ctx, b.t1.ID, c.ID)
			require.NoError(t, err)
			locked, unlock, ok, err := b.store.LockReply(b.ctx, b.t1.ID, c.ID, parley.ReplyRead{})
			require.NoError(t, err)
			require.True(t, ok)
			unlock()
			require.Equal(t, st.HasContent, locked.HasContent, "ReplyState and LockReply agree")
			return st.HasContent
		}
		require.False(t, has(), "an empty library")
		add(b.t1, "bot-2", "aa")
		add(b.t2, "bot-1", "bb")
		require.False(t, has(), "another bot's item, another tenant's bot's")
		add(b.t1, "bot-1", "cc")
		require.True(t, has())
	})

	t.Run("LockReplyReads", func(t *testing.T) {
		// What a reply reads next comes with its state, read as
		// ListMessages and ListMemories read them, taken or not; nothing
		// that was not asked for.
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "ana")
		for _, text := range []string{"one", "two", "three", "four", "five"} {
			appendText(t, b, b.t1, c.ID, text)
		}
		fact := func(text string) parley.Fact {
			return parley.Fact{Kind: parley.KindLike, Key: "like:" + text, Text: text, Confidence: 0.9, SourceSeqs: []int64{1}}
		}
		_, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 5, []parley.Fact{fact("Likes tea"), fact("Likes jazz"), fact("Likes rain")})
		require.NoError(t, err)
		// The same user's memories of another bot, another user's of this
		// bot: not the reply's.
		for _, o := range []*parley.Conversation{conversation(t, b, b.t1, "bot-2", "ana"), conversation(t, b, b.t1, "bot", "luis")} {
			appendText(t, b, b.t1, o.ID, "hola")
			_, err = b.store.StoreMemories(b.ctx, b.t1.ID, o.ID, 1, []parley.Fact{fact("Likes coffee")})
			require.NoError(t, err)
		}
		want, err := b.store.ListMemories(b.ctx, b.t1.ID, parley.MemoryFilter{BotID: "bot", UserID: "ana", Limit: 2})
		require.NoError(t, err)
		require.Len(t, want, 2)
		seqs := func(ms []parley.Message) []int64 {
			var out []int64
			for _, m := range ms {
				out = append(out, m.Seq)
			}
			return out
		}
		for _, taken := range []bool{true, false} {
			st, unlock, ok, err := b.store.LockReply(b.ctx, b.t1.ID, c.ID, parley.ReplyRead{AfterSeq: 2, Messages: 2, Memories: 2})
			require.NoError(t, err)
			require.Equal(t, taken, ok)
			require.Equal(t, []int64{3, 4}, seqs(st.Messages), "the messages after AfterSeq, oldest first, as many as asked")
			require.Equal(t, "three", st.Messages[0].Text)
			require.Equal(t, want, st.Memories, "the user's newest memories of the conversation's bot")
			if ok {
				defer unlock()
			}
		}
		st, _, _, err := b.store.LockReply(b.ctx, b.t1.ID, c.ID, parley.ReplyRead{AfterSeq: 5, Messages: 10})
		require.NoError(t, err)
		require.NotNil(t, st.Messages, "asked: none after the newest is an empty page")
		require.Empty(t, st.Messages)
		require.Nil(t, st.Memories, "not asked")
		_, _, _, err = b.store.LockReply(b.ctx, b.t2.ID, c.ID, parley.ReplyRead{Messages: 10, Memories: 10})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's conversation: nothing read")
	})

	t.Run("ReleaseAnswered", func(t *testing.T) {
		// A coalescing reply that ends its turn (Reply.Release) after its
		// messages were answered by another stores nothing, and still queues
		// the job that answers what came meanwhile, which queued none of its
		// own; with nothing pending it queues nothing.
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		jobs := func() int { return s.h.Jobs(t, b.store, "reply", c.ID) }
		reply := func(upto int64, release bool) *parley.Message {
			m, err := b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: upto, Release: release,
				Message: parley.NewMessage{FromBot: true, Text: "answer", Bubbles: []string{"answer"}}})
			require.NoError(t, err)
			return m
		}
		first := appendText(t, b, b.t1, c.ID, "one").Seq
		second := appendText(t, b, b.t1, c.ID, "two").Seq // the first's job is queued: no job of its own
		require.Equal(t, 1, jobs())
		require.NotNil(t, reply(first, false), "another job answers the first message")
		require.Nil(t, reply(first, true), "already answered: nothing stored")
		require.Equal(t, 2, jobs(), "the second message's job is queued when the turn ends")

		require.NotNil(t, reply(second, true))
		require.Nil(t, reply(second, true))
		require.Equal(t, 2, jobs(), "nothing pending: no job")
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		require.Len(t, msgs, 4, "two messages, two replies")
	})

	t.Run("StoreReply", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		appendText(t, b, b.t1, c.ID, "one")
		appendText(t, b, b.t1, c.ID, "two")
		st, err := b.store.ReplyState(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), st.LastUserSeq)
		require.Equal(t, int64(0), st.AnsweredSeq)
		require.Equal(t, "bot", st.Bot.ID)
		require.Equal(t, "u", st.User.ID)
		require.Equal(t, c.ID, st.Conversation.ID)
		_, err = b.store.ReplyState(b.ctx, b.t2.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's conversation")

		last, err := b.store.ClaimReply(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), last)
		_, err = b.store.ClaimReply(b.ctx, b.t2.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		answer := parley.NewMessage{FromBot: true, Text: "both", Bubbles: []string{"both"}, Metadata: []byte(`{"reply":{"x":1}}`)}
		_, err = b.store.StoreReply(b.ctx, b.t2.ID, c.ID, parley.Reply{UptoSeq: 2, Message: answer})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant cannot reply")
		m, err := b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: 2, Message: answer,
			Context: []byte(`{"messages":[]}`), Summary: "they said one and two", SummarySeq: 2})
		require.NoError(t, err)
		require.Equal(t, int64(3), m.Seq)
		require.True(t, m.FromBot)
		again, err := b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: 2, Message: answer})
		require.NoError(t, err)
		require.Nil(t, again, "a retried job stores nothing")

		st, err = b.store.ReplyState(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), st.AnsweredSeq)
		require.Equal(t, "they said one and two", st.Summary)
		require.Equal(t, int64(2), st.SummarySeq)
		ctxJSON, err := b.store.ReplyContext(b.ctx, b.t1.ID, c.ID, 3)
		require.NoError(t, err)
		require.JSONEq(t, `{"messages":[]}`, string(ctxJSON))
		_, err = b.store.ReplyContext(b.ctx, b.t2.ID, c.ID, 3)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.ReplyContext(b.ctx, b.t1.ID, c.ID, 1)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "a user message has no context")

		// An older summary does not replace a newer one; DropIfNewer drops a
		// reply that a newer message overtook.
		appendText(t, b, b.t1, c.ID, "three")
		appendText(t, b, b.t1, c.ID, "four")
		dropped, err := b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: 4, Message: answer, DropIfNewer: true})
		require.NoError(t, err)
		require.Nil(t, dropped)
		_, err = b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: 5, Message: answer, Summary: "old", SummarySeq: 1})
		require.NoError(t, err)
		st, err = b.store.ReplyState(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, "they said one and two", st.Summary)
		require.Equal(t, int64(5), st.AnsweredSeq)

		// The digest runs through replies like any message.
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		digest := parley.ChainStart
		for _, m := range msgs {
			digest = parley.ChainDigest(digest, m.FromBot, parley.Canonical(m.Bubbles, m.Text))
		}
		stored, got, err := b.store.HistoryDigest(b.ctx, b.t1.ID, c.ID, 100)
		require.NoError(t, err)
		require.Equal(t, int64(len(msgs)), stored)
		require.Equal(t, digest, got)
	})

	t.Run("FailReply", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		appendText(t, b, b.t1, c.ID, "one")
		appendText(t, b, b.t1, c.ID, "two")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.FailReply(b.ctx, b.t2.ID, c.ID, 2, "x", false)))
		require.NoError(t, b.store.FailReply(b.ctx, b.t1.ID, c.ID, 1, "model down", false))
		require.NoError(t, b.store.FailReply(b.ctx, b.t1.ID, c.ID, 1, "again", false), "a failure recorded twice is one")
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, parley.StatusReplyFailed, msgs[0].Status)
		require.Equal(t, "", msgs[1].Status, "only the messages up to the failed reply's")
		events, err := b.store.ListEvents(b.ctx, b.t1.ID, c.ID, 0, 100)
		require.NoError(t, err)
		var failures []parley.ReplyFailure
		for _, e := range events {
			if e.Type == parley.EventReplyFailed {
				var f parley.ReplyFailure
				require.NoError(t, json.Unmarshal(e.Data, &f))
				failures = append(failures, f)
			}
		}
		require.Equal(t, []parley.ReplyFailure{{ConversationID: c.ID, FromSeq: 1, ToSeq: 1, Reason: "model down"}}, failures)
		st, err := b.store.ReplyState(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), st.AnsweredSeq, "later replies do not answer a failed message again")

		// With release, the turn ends and the message left gets its job.
		before := s.h.Jobs(t, b.store, "reply", c.ID)
		require.NoError(t, b.store.FailReply(b.ctx, b.t1.ID, c.ID, 1, "x", true))
		require.Equal(t, before+1, s.h.Jobs(t, b.store, "reply", c.ID))
	})
}
