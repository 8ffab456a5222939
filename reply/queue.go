package reply

import (
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
)

// Attempts is how often a reply is tried before its messages are marked
// failed.
const Attempts = 5

// InsertOpts say how the reply job of a user message is queued. Every user
// message gets a job, runnable at once; a job answers every user message not
// yet answered, so under coalesce the first job to run answers the burst and
// the others find nothing left to do. The debounce is the worker's: it
// snoozes the job until the burst has been quiet long enough (River makes
// short snoozes runnable at their time without waiting for its scheduler).
func InsertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: Attempts}
}

// NeedsJob tells whether appending m must queue a reply job. A queued job
// that has not claimed its turn yet answers every message up to its claim,
// so a second one would find nothing to do: under every policy but enqueue
// (a reply per message) one queued job is enough. Messages carrying a
// client's history (V1) always get a job of their own, which carries it.
func NeedsJob(m parley.NewMessage, settings parley.ReplySettings, replyQueued bool) bool {
	if m.FromBot || m.NoReply {
		return false
	}
	return !replyQueued || settings.EffectivePolicy() == parley.PolicyEnqueue || len(m.ReplyHistory) > 0
}
