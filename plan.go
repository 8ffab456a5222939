package parley

import "time"

// The rules of a conversation's writes, as plain functions over plain
// values: both engines read a ConversationState in their transaction, ask
// for the plan, and turn it into their own SQL. A rule changes here, once,
// and plan_test.go proves it without a database.

// ConversationState is what a write reads of its conversation first.
type ConversationState struct {
	LastSeq     int64 // the newest message
	LastUserSeq int64 // the newest user message
	AnsweredSeq int64 // user messages up to it are answered (or failed)
	SummarySeq  int64 // the rolling summary covers messages up to it
	// ReplyQueued: a reply job is queued that has not claimed its turn.
	ReplyQueued bool
	// MemoryQueued: a memory job is queued that has not claimed its turn.
	MemoryQueued bool
	Digest       []byte        // ChainDigest of the history up to LastSeq
	Reply        ReplySettings // the conversation's bot's
}

// Idempotent is a message stored earlier under an append's idempotency key.
type Idempotent struct {
	Message *Message
	// RequestHash is the hash stored with it; "" when none was (a NULL
	// column and an empty one are the same: no hash).
	RequestHash string
}

// AppendPlan is what one append does.
type AppendPlan struct {
	// Replayed: the idempotency key's earlier message is the answer and
	// nothing is stored.
	Replayed bool
	// Message is the message to store at LastSeq+1 (the earlier one when
	// Replayed).
	Message *Message
	Digest  []byte // the history's digest after Message
	// UserMessage: last_user_seq moves to the message.
	UserMessage bool
	// Answered: answered_seq moves to the message too (a history-only user
	// message is history, not a question).
	Answered bool
	// Event: a message.created event (and its deliveries). A bot-side
	// message (an operator taking over) is news for the integrator; history
	// a client sent is not.
	Event bool
	// Job is the reply job queued with the message; when set, reply_queued
	// is set too.
	Job *ReplyJob
	// MemoryJob reads the user's new messages for memories, history
	// included; when set, memory_queued is set too. One is queued at a time:
	// the queued one reads what comes until it runs.
	MemoryJob *MemoryJob
	// MediaJob fetches the URLs of the message's media (PlanMedia).
	MediaJob *MediaJob
}

// PlanAppend decides an append of m to a conversation in state st. prior is
// the message already stored under m's idempotency key, if any.
// Errors: ECONFLICT for a reused key with another request
// (header.Idempotency-Key), or a user message refused by the reject policy
// while a reply is pending (body.message).
func PlanAppend(tenantID, conversationID string, st ConversationState, m NewMessage, prior *Idempotent, now time.Time) (AppendPlan, error) {
	if prior != nil {
		if prior.RequestHash != m.RequestHash {
			return AppendPlan{}, FieldError(ECONFLICT, "header.Idempotency-Key", "this Idempotency-Key was used for a different request")
		}
		return AppendPlan{Replayed: true, Message: prior.Message}, nil
	}
	if !m.FromBot && !m.NoReply && st.Reply.EffectivePolicy() == PolicyReject && st.LastUserSeq > st.AnsweredSeq {
		return AppendPlan{}, FieldError(ECONFLICT, "body.message", "the bot is still replying to an earlier message (reply policy: reject)")
	}
	said := now
	if m.NoReply && !m.At.IsZero() && m.At.Before(now) {
		said = m.At.UTC()
	}
	msg := &Message{ID: NewID(), ConversationID: conversationID, Seq: st.LastSeq + 1, FromBot: m.FromBot, Text: m.Text,
		Bubbles: nonNil(m.Bubbles), AttachedMedia: nonNil(m.AttachedMedia), Metadata: m.Metadata, CreatedAt: said}
	p := AppendPlan{Message: msg, Digest: ChainDigest(st.Digest, m.FromBot, Canonical(m.Bubbles, m.Text)),
		UserMessage: !m.FromBot, Answered: !m.FromBot && m.NoReply, Event: m.FromBot && !m.NoReply}
	if NeedsReplyJob(m, st.Reply, st.ReplyQueued) {
		job := ReplyJob{TenantID: tenantID, ConversationID: conversationID, History: m.ReplyHistory}
		if st.Reply.EffectivePolicy() == PolicyEnqueue {
			job.Seq = msg.Seq
		}
		p.Job = &job
	}
	if !m.FromBot && !st.MemoryQueued {
		p.MemoryJob = &MemoryJob{TenantID: tenantID, ConversationID: conversationID}
	}
	if PlanMedia(msg) {
		p.MediaJob = &MediaJob{TenantID: tenantID, ConversationID: conversationID, Seq: msg.Seq}
	}
	return p, nil
}

// After is the conversation's state once the plan's message is stored:
// what an append writes to the conversation, and what the next append of
// the same group commit plans from. A replay or a refused append changes
// nothing.
func (st ConversationState) After(p AppendPlan) ConversationState {
	if p.Replayed || p.Message == nil {
		return st
	}
	st.LastSeq, st.Digest = p.Message.Seq, p.Digest
	if p.UserMessage {
		st.LastUserSeq = p.Message.Seq
	}
	if p.Answered {
		st.AnsweredSeq = p.Message.Seq
	}
	st.ReplyQueued = st.ReplyQueued || p.Job != nil
	st.MemoryQueued = st.MemoryQueued || p.MemoryJob != nil
	return st
}

// NeedsReplyJob tells whether appending m must queue a reply job. A queued
// job that has not claimed its turn yet answers every message up to its
// claim, so a second one would find nothing to do: under every policy but
// enqueue (a reply per message) one queued job is enough. Messages carrying
// a client's history (V1) always get a job of their own, which carries it.
func NeedsReplyJob(m NewMessage, settings ReplySettings, replyQueued bool) bool {
	if m.FromBot || m.NoReply {
		return false
	}
	return !replyQueued || settings.EffectivePolicy() == PolicyEnqueue || len(m.ReplyHistory) > 0
}

// TurnEnd is how a write ends a reply job's turn (Reply.Release): user
// messages that came while the job held it queued no job of their own, so
// the write sets reply_queued to Pending and, when some are pending,
// queues Job, which answers them.
type TurnEnd struct {
	End     bool // the write ends the turn
	Pending bool // user messages are left unanswered
	Job     *ReplyJob
}

func endTurn(tenantID, conversationID string, lastUser, answered int64) TurnEnd {
	t := TurnEnd{End: true, Pending: lastUser > answered}
	if t.Pending {
		t.Job = &ReplyJob{TenantID: tenantID, ConversationID: conversationID}
	}
	return t
}

// ReplyPlan is what storing one reply does.
type ReplyPlan struct {
	// Message is the reply to store at LastSeq+1, with its context and a
	// message.created event; nil when there is nothing to store: its
	// messages are answered already (a retried job) or a newer user
	// message came (Reply.DropIfNewer).
	Message     *Message
	Digest      []byte // the history's digest after Message
	AnsweredSeq int64  // answered_seq after Message
	// NewSummary: the reply's summary replaces the stored one (it covers
	// more); SummarySeq is summary_seq after, either way.
	NewSummary bool
	Summary    string
	SummarySeq int64
	Turn       TurnEnd
}

// PlanReply decides the storage of reply r in a conversation in state st.
func PlanReply(tenantID, conversationID string, st ConversationState, r Reply, now time.Time) ReplyPlan {
	var p ReplyPlan
	if st.AnsweredSeq >= r.UptoSeq || (r.DropIfNewer && st.LastUserSeq > r.UptoSeq) {
		if r.Release {
			p.Turn = endTurn(tenantID, conversationID, st.LastUserSeq, max(st.AnsweredSeq, r.UptoSeq))
		}
		return p
	}
	p.Message = &Message{ID: NewID(), ConversationID: conversationID, Seq: st.LastSeq + 1, FromBot: true,
		Text: r.Message.Text, Bubbles: nonNil(r.Message.Bubbles), AttachedMedia: nonNil(r.Message.AttachedMedia),
		Metadata: r.Message.Metadata, CreatedAt: now}
	p.Digest = ChainDigest(st.Digest, true, Canonical(p.Message.Bubbles, p.Message.Text))
	p.AnsweredSeq = r.UptoSeq
	p.SummarySeq = st.SummarySeq
	if r.SummarySeq > st.SummarySeq {
		p.NewSummary, p.Summary, p.SummarySeq = true, r.Summary, r.SummarySeq
	}
	if r.Release {
		p.Turn = endTurn(tenantID, conversationID, st.LastUserSeq, r.UptoSeq)
	}
	return p
}

// AfterReply is the conversation's state once the plan is stored: what
// storing a reply writes to the conversation, and what the next write of
// the same group commit plans from.
func (st ConversationState) AfterReply(p ReplyPlan) ConversationState {
	if p.Message != nil {
		st.LastSeq, st.Digest, st.AnsweredSeq, st.SummarySeq = p.Message.Seq, p.Digest, p.AnsweredSeq, p.SummarySeq
	}
	if p.Turn.End {
		st.ReplyQueued = p.Turn.Pending
	}
	return st
}

// ReplyFailure is the data of a reply.failed event.
type ReplyFailure struct {
	ConversationID string `json:"conversation_id"`
	FromSeq        int64  `json:"from_seq"`
	Reason         string `json:"reason"`
	ToSeq          int64  `json:"to_seq"`
}

// FailurePlan is what recording a failed reply does.
type FailurePlan struct {
	Turn TurnEnd
	// Failure, when set: the user messages from FromSeq to ToSeq get
	// status reply_failed, answered_seq moves to ToSeq (later replies do
	// not answer them again), and a reply.failed event carries it.
	Failure *ReplyFailure
}

// PlanFailure decides the record of a reply to the user messages up to
// uptoSeq that could not be made; release ends the job's turn as
// Reply.Release does.
func PlanFailure(tenantID, conversationID string, st ConversationState, uptoSeq int64, reason string, release bool) FailurePlan {
	var p FailurePlan
	if release {
		p.Turn = endTurn(tenantID, conversationID, st.LastUserSeq, max(st.AnsweredSeq, uptoSeq))
	}
	if st.AnsweredSeq < uptoSeq {
		p.Failure = &ReplyFailure{ConversationID: conversationID, FromSeq: st.AnsweredSeq + 1, Reason: reason, ToSeq: uptoSeq}
	}
	return p
}

// nonNil makes lists answer [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
