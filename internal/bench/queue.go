package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// QueueCost is what the job queue's own bookkeeping costs per job, measured
// on the store's database in the same run as the replies: every reply is a
// job that River inserts (with the user's message), fetches and marks
// completed, each a write of its own.
type QueueCost struct {
	Insert, Fetch, Complete time.Duration // per job
}

// Total is the three together.
func (c QueueCost) Total() time.Duration { return c.Insert + c.Fetch + c.Complete }

// floorQueue is a queue no worker serves: the measurement's jobs are never
// taken by the running client.
const floorQueue = "bench_queue_floor"

// QueueFloor moves jobs through River's driver alone, in batches as River
// itself does (an insert of a transaction's jobs, a fetch of up to a
// producer's free workers, a batch completion), and returns the time per
// job of each step: the least the queue adds to every reply, without
// Parley's work, scheduling or waits.
func QueueFloor(ctx context.Context, exec riverdriver.Executor, batch, rounds int) (QueueCost, error) {
	var c QueueCost
	args := []byte(`{"tenant_id":"00000000-0000-0000-0000-000000000000","conversation_id":"00000000-0000-0000-0000-000000000000","seq":1}`)
	for range rounds {
		jobs := make([]*riverdriver.JobInsertFastParams, batch)
		for i := range jobs {
			jobs[i] = &riverdriver.JobInsertFastParams{EncodedArgs: args, Kind: "bench_queue_floor", MaxAttempts: 25,
				Metadata: []byte(`{}`), Priority: 1, Queue: floorQueue, State: rivertype.JobStateAvailable, Tags: []string{}}
		}
		t0 := time.Now()
		if _, err := exec.JobInsertFastManyNoReturning(ctx, &riverdriver.JobInsertFastManyParams{Jobs: jobs}); err != nil {
			return c, fmt.Errorf("bench: queue floor insert: %w", err)
		}
		t1 := time.Now()
		got, err := exec.JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{ClientID: "bench", MaxAttemptedBy: 100,
			MaxToLock: batch, Queue: floorQueue})
		if err != nil {
			return c, fmt.Errorf("bench: queue floor fetch: %w", err)
		}
		if len(got.Jobs) != batch {
			return c, fmt.Errorf("bench: queue floor fetched %d jobs of %d", len(got.Jobs), batch)
		}
		t2 := time.Now()
		now := time.Now()
		var p riverdriver.JobSetStateIfRunningManyParams
		for _, j := range got.Jobs {
			s := riverdriver.JobSetStateCompleted(j.ID, now, nil)
			p.ID = append(p.ID, s.ID)
			p.Attempt = append(p.Attempt, s.Attempt)
			p.ErrData = append(p.ErrData, s.ErrData)
			p.FinalizedAt = append(p.FinalizedAt, s.FinalizedAt)
			p.MetadataDoMerge = append(p.MetadataDoMerge, s.MetadataDoMerge)
			p.MetadataUpdates = append(p.MetadataUpdates, s.MetadataUpdates)
			p.ScheduledAt = append(p.ScheduledAt, s.ScheduledAt)
			p.State = append(p.State, s.State)
		}
		done, err := exec.JobSetStateIfRunningMany(ctx, &p)
		if err != nil {
			return c, fmt.Errorf("bench: queue floor complete: %w", err)
		}
		if len(done) != batch {
			return c, fmt.Errorf("bench: queue floor completed %d jobs of %d", len(done), batch)
		}
		t3 := time.Now()
		c.Insert += t1.Sub(t0)
		c.Fetch += t2.Sub(t1)
		c.Complete += t3.Sub(t2)
	}
	n := time.Duration(batch * rounds)
	c.Insert, c.Fetch, c.Complete = c.Insert/n, c.Fetch/n, c.Complete/n
	return c, nil
}
