package parley_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestPlanAppend(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	idle := parley.ConversationState{LastSeq: 4, LastUserSeq: 3, AnsweredSeq: 3, Digest: []byte("d")}
	pending := parley.ConversationState{LastSeq: 5, LastUserSeq: 5, AnsweredSeq: 3, ReplyQueued: true}
	with := func(st parley.ConversationState, policy string) parley.ConversationState {
		st.Reply.Policy = policy
		return st
	}
	user := parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}}
	bot := parley.NewMessage{FromBot: true, Text: "operator", Bubbles: []string{"operator"}}
	history := func(m parley.NewMessage) parley.NewMessage { m.NoReply = true; return m }
	v1 := user
	v1.ReplyHistory = []parley.HistoryItem{{Bubbles: []string{"x"}}}
	prior := &parley.Message{ID: "earlier", Seq: 2}
	for _, tc := range []struct {
		name  string
		st    parley.ConversationState
		m     parley.NewMessage
		prior *parley.Idempotent
		// want
		err                        string // field of the error
		replayed                   bool
		user, answered, event, job bool
		jobSeq                     int64
	}{
		{name: "user message queues a reply", st: idle, m: user, user: true, job: true},
		{name: "a queued job answers the burst", st: pending, m: user, user: true},
		{name: "enqueue: a job per message, up to it", st: with(pending, parley.PolicyEnqueue), m: user, user: true, job: true, jobSeq: 6},
		{name: "a client's history: a job of its own", st: pending, m: v1, user: true, job: true},
		{name: "reject while a reply is pending", st: with(pending, parley.PolicyReject), m: user, err: "body.message"},
		{name: "reject when nothing is pending", st: with(idle, parley.PolicyReject), m: user, user: true, job: true},
		{name: "reject lets history in", st: with(pending, parley.PolicyReject), m: history(user), user: true, answered: true},
		{name: "reject lets the bot side in", st: with(pending, parley.PolicyReject), m: bot, event: true},
		{name: "history-only user message is answered", st: idle, m: history(user), user: true, answered: true},
		{name: "bot-side message is an event, no reply", st: idle, m: bot, event: true},
		{name: "bot-side history: neither", st: idle, m: history(bot)},
		{name: "same key, same request: replay", st: idle, m: parley.NewMessage{IdempotencyKey: "k", RequestHash: "h"},
			prior: &parley.Idempotent{Message: prior, RequestHash: "h"}, replayed: true},
		{name: "same key, no hash on either side: replay", st: idle, m: parley.NewMessage{IdempotencyKey: "k"},
			prior: &parley.Idempotent{Message: prior}, replayed: true},
		{name: "same key, another request", st: idle, m: parley.NewMessage{IdempotencyKey: "k", RequestHash: "h2"},
			prior: &parley.Idempotent{Message: prior, RequestHash: "h"}, err: "header.Idempotency-Key"},
		{name: "same key, stored without hash, now with one", st: idle, m: parley.NewMessage{IdempotencyKey: "k", RequestHash: "h"},
			prior: &parley.Idempotent{Message: prior}, err: "header.Idempotency-Key"},
		{name: "a queued memory job reads this message too", st: parley.ConversationState{LastSeq: 1, MemoryQueued: true},
			m: user, user: true, job: true},
		{name: "a replay wins over reject", st: with(pending, parley.PolicyReject), m: parley.NewMessage{IdempotencyKey: "k"},
			prior: &parley.Idempotent{Message: prior}, replayed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parley.PlanAppend("t", "c", tc.st, tc.m, tc.prior, now)
			if tc.err != "" {
				var pe *parley.Error
				require.ErrorAs(t, err, &pe)
				require.Equal(t, parley.ECONFLICT, pe.Code)
				require.Equal(t, tc.err, pe.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.replayed, p.Replayed)
			if tc.replayed {
				require.Same(t, prior, p.Message)
				require.Nil(t, p.Job)
				return
			}
			require.Equal(t, tc.st.LastSeq+1, p.Message.Seq)
			require.Equal(t, "c", p.Message.ConversationID)
			require.Equal(t, now, p.Message.CreatedAt)
			require.NotNil(t, p.Message.Bubbles)
			require.NotNil(t, p.Message.AttachedMedia, "lists answer [], not null")
			require.Equal(t, parley.ChainDigest(tc.st.Digest, tc.m.FromBot, parley.Canonical(tc.m.Bubbles, tc.m.Text)), p.Digest)
			require.Equal(t, tc.user, p.UserMessage, "user")
			require.Equal(t, tc.answered, p.Answered, "answered")
			require.Equal(t, tc.event, p.Event, "event")
			require.Equal(t, tc.job, p.Job != nil, "job")
			require.Equal(t, !tc.m.FromBot && !tc.st.MemoryQueued, p.MemoryJob != nil, "memory job: user messages, history too")
			if p.MemoryJob != nil {
				require.Equal(t, parley.MemoryJob{TenantID: "t", ConversationID: "c"}, *p.MemoryJob)
			}
			if p.Job != nil {
				require.Equal(t, parley.ReplyJob{TenantID: "t", ConversationID: "c", Seq: tc.jobSeq, History: tc.m.ReplyHistory}, *p.Job)
			}
		})
	}
}

func TestPlanReply(t *testing.T) {
	t.Parallel()
	now := time.Now()
	st := parley.ConversationState{LastSeq: 6, LastUserSeq: 5, AnsweredSeq: 2, SummarySeq: 1, Digest: []byte("d")}
	answer := parley.NewMessage{FromBot: true, Text: "a", Bubbles: []string{"a"}}
	follow := &parley.ReplyJob{TenantID: "t", ConversationID: "c"}
	for _, tc := range []struct {
		name       string
		st         parley.ConversationState
		r          parley.Reply
		store      bool
		newSummary bool
		summarySeq int64
		turn       parley.TurnEnd
	}{
		{name: "stores", st: st, r: parley.Reply{UptoSeq: 5, Message: answer}, store: true, summarySeq: 1},
		{name: "a newer summary replaces the stored one", st: st,
			r: parley.Reply{UptoSeq: 5, Message: answer, Summary: "s", SummarySeq: 3}, store: true, newSummary: true, summarySeq: 3},
		{name: "an older summary does not", st: st,
			r: parley.Reply{UptoSeq: 5, Message: answer, Summary: "s", SummarySeq: 1}, store: true, summarySeq: 1},
		{name: "answered already: nothing", st: st, r: parley.Reply{UptoSeq: 2, Message: answer}},
		{name: "dropped for a newer message", st: st, r: parley.Reply{UptoSeq: 4, Message: answer, DropIfNewer: true}},
		{name: "not dropped without a newer one", st: st, r: parley.Reply{UptoSeq: 5, Message: answer, DropIfNewer: true},
			store: true, summarySeq: 1},
		{name: "release with messages left queues their job", st: st, r: parley.Reply{UptoSeq: 4, Message: answer, Release: true},
			store: true, summarySeq: 1, turn: parley.TurnEnd{End: true, Pending: true, Job: follow}},
		{name: "release with nothing left", st: st, r: parley.Reply{UptoSeq: 5, Message: answer, Release: true},
			store: true, summarySeq: 1, turn: parley.TurnEnd{End: true}},
		{name: "release of an answered reply still ends the turn", st: st, r: parley.Reply{UptoSeq: 2, Message: answer, Release: true},
			turn: parley.TurnEnd{End: true, Pending: true, Job: follow}},
		{name: "release of an answered reply, nothing pending", st: parley.ConversationState{LastUserSeq: 3, AnsweredSeq: 3},
			r: parley.Reply{UptoSeq: 3, Message: answer, Release: true}, turn: parley.TurnEnd{End: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parley.PlanReply("t", "c", tc.st, tc.r, now)
			require.Equal(t, tc.turn, p.Turn)
			if !tc.store {
				require.Nil(t, p.Message)
				return
			}
			require.Equal(t, tc.st.LastSeq+1, p.Message.Seq)
			require.True(t, p.Message.FromBot)
			require.Equal(t, tc.r.UptoSeq, p.AnsweredSeq)
			require.Equal(t, tc.newSummary, p.NewSummary)
			require.Equal(t, tc.summarySeq, p.SummarySeq)
			require.Equal(t, parley.ChainDigest(tc.st.Digest, true, parley.Canonical(answer.Bubbles, answer.Text)), p.Digest)
		})
	}
}

func TestPlanFailure(t *testing.T) {
	t.Parallel()
	st := parley.ConversationState{LastUserSeq: 7, AnsweredSeq: 2}
	p := parley.PlanFailure("t", "c", st, 5, "boom", false)
	require.Equal(t, &parley.ReplyFailure{ConversationID: "c", FromSeq: 3, ToSeq: 5, Reason: "boom"}, p.Failure)
	require.Equal(t, parley.TurnEnd{}, p.Turn)

	p = parley.PlanFailure("t", "c", st, 5, "boom", true)
	require.Equal(t, parley.TurnEnd{End: true, Pending: true, Job: &parley.ReplyJob{TenantID: "t", ConversationID: "c"}}, p.Turn)

	p = parley.PlanFailure("t", "c", st, 2, "late", true)
	require.Nil(t, p.Failure, "answered already: nothing marked")
	require.True(t, p.Turn.Pending)

	p = parley.PlanFailure("t", "c", parley.ConversationState{LastUserSeq: 5, AnsweredSeq: 2}, 5, "x", true)
	require.Equal(t, parley.TurnEnd{End: true}, p.Turn)
}

func TestNeedsReplyJob(t *testing.T) {
	t.Parallel()
	enqueue := parley.ReplySettings{Policy: parley.PolicyEnqueue}
	for _, tc := range []struct {
		m      parley.NewMessage
		s      parley.ReplySettings
		queued bool
		want   bool
	}{
		{parley.NewMessage{}, parley.ReplySettings{}, false, true},
		{parley.NewMessage{}, parley.ReplySettings{}, true, false},
		{parley.NewMessage{}, enqueue, true, true},
		{parley.NewMessage{ReplyHistory: []parley.HistoryItem{{}}}, parley.ReplySettings{}, true, true},
		{parley.NewMessage{FromBot: true}, enqueue, false, false},
		{parley.NewMessage{NoReply: true}, enqueue, false, false},
	} {
		require.Equal(t, tc.want, parley.NeedsReplyJob(tc.m, tc.s, tc.queued), "%+v", tc)
	}
}

// TestStateAfter: what an append leaves the conversation in, planned from
// by the next append of the same group commit.
func TestStateAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	idle := parley.ConversationState{LastSeq: 4, LastUserSeq: 3, AnsweredSeq: 3, Digest: []byte("d")}
	queued := parley.ConversationState{LastSeq: 5, LastUserSeq: 5, AnsweredSeq: 3, ReplyQueued: true, MemoryQueued: true, Digest: []byte("d")}
	for _, tc := range []struct {
		name  string
		st    parley.ConversationState
		m     parley.NewMessage
		prior *parley.Idempotent
		want  parley.ConversationState // Digest: the plan's, when a message is stored
	}{
		{name: "a user message: newest user message, a reply and a memory job queued", st: idle,
			m:    parley.NewMessage{Text: "hi"},
			want: parley.ConversationState{LastSeq: 5, LastUserSeq: 5, AnsweredSeq: 3, ReplyQueued: true, MemoryQueued: true}},
		{name: "a burst: the queued jobs stay queued", st: queued, m: parley.NewMessage{Text: "again"},
			want: parley.ConversationState{LastSeq: 6, LastUserSeq: 6, AnsweredSeq: 3, ReplyQueued: true, MemoryQueued: true}},
		{name: "history: answered as it is stored, no reply", st: idle, m: parley.NewMessage{Text: "old", NoReply: true},
			want: parley.ConversationState{LastSeq: 5, LastUserSeq: 5, AnsweredSeq: 5, MemoryQueued: true}},
		{name: "a bot-side message: only the sequence moves", st: idle, m: parley.NewMessage{Text: "operator", FromBot: true},
			want: parley.ConversationState{LastSeq: 5, LastUserSeq: 3, AnsweredSeq: 3}},
		{name: "a replay changes nothing", st: idle, m: parley.NewMessage{Text: "hi", IdempotencyKey: "k"},
			prior: &parley.Idempotent{Message: &parley.Message{ID: "earlier", Seq: 2}}, want: idle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parley.PlanAppend("t", "c", tc.st, tc.m, tc.prior, now)
			require.NoError(t, err)
			got := tc.st.After(p)
			want := tc.want
			if !p.Replayed {
				require.Equal(t, p.Digest, got.Digest, "the history's digest after the message")
				want.Digest = p.Digest
			}
			require.Equal(t, want, got)
			if !p.Replayed {
				next, err := parley.PlanAppend("t", "c", got, parley.NewMessage{Text: "next"}, nil, now)
				require.NoError(t, err)
				require.Equal(t, got.LastSeq+1, next.Message.Seq, "the next append of the group follows it")
			}
		})
	}
}

// TestStateAfterReply: what storing a reply leaves the conversation in.
func TestStateAfterReply(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	st := parley.ConversationState{LastSeq: 6, LastUserSeq: 6, AnsweredSeq: 3, SummarySeq: 1, ReplyQueued: true, Digest: []byte("d")}
	reply := parley.Reply{UptoSeq: 5, Message: parley.NewMessage{FromBot: true, Text: "hello"}}
	for _, tc := range []struct {
		name string
		st   parley.ConversationState
		r    func(r parley.Reply) parley.Reply
		want parley.ConversationState // Digest: the plan's, when a message is stored
	}{
		{name: "a reply: answered up to it, the queued job stays queued", st: st, r: func(r parley.Reply) parley.Reply { return r },
			want: parley.ConversationState{LastSeq: 7, LastUserSeq: 6, AnsweredSeq: 5, SummarySeq: 1, ReplyQueued: true}},
		{name: "with a longer summary", st: st, r: func(r parley.Reply) parley.Reply { r.Summary, r.SummarySeq = "s", 4; return r },
			want: parley.ConversationState{LastSeq: 7, LastUserSeq: 6, AnsweredSeq: 5, SummarySeq: 4, ReplyQueued: true}},
		{name: "releasing the turn with a message left: still queued (its job)", st: st, r: func(r parley.Reply) parley.Reply { r.Release = true; return r },
			want: parley.ConversationState{LastSeq: 7, LastUserSeq: 6, AnsweredSeq: 5, SummarySeq: 1, ReplyQueued: true}},
		{name: "releasing the turn with nothing left", st: st, r: func(r parley.Reply) parley.Reply { r.UptoSeq, r.Release = 6, true; return r },
			want: parley.ConversationState{LastSeq: 7, LastUserSeq: 6, AnsweredSeq: 6, SummarySeq: 1}},
		{name: "already answered, releasing: only the turn ends, and queues the job for what is left",
			st: func() parley.ConversationState { s := st; s.ReplyQueued = false; return s }(),
			r:  func(r parley.Reply) parley.Reply { r.UptoSeq, r.Release = 2, true; return r }, want: st},
		{name: "dropped for a newer message: nothing changes", st: st, r: func(r parley.Reply) parley.Reply { r.DropIfNewer = true; return r },
			want: st},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parley.PlanReply("t", "c", tc.st, tc.r(reply), now)
			got := tc.st.AfterReply(p)
			want := tc.want
			if p.Message != nil {
				want.Digest = p.Digest
			}
			require.Equal(t, want, got)
		})
	}
}
