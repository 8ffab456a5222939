package reply

import (
	"github.com/riverqueue/river"
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
