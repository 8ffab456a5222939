package content

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley"
)

// MediaStore is what the media worker needs from a store.
type MediaStore interface {
	parley.Conversations
	parley.Library
}

// MediaWorker is the River worker of parley.MediaJob: it fetches the URLs
// a user message's media names (through the library's guard and limits),
// keeps their bytes, and records on the message what became of each: the
// message itself was stored when it came, whatever the fetch finds.
type MediaWorker struct {
	river.WorkerDefaults[parley.MediaJob]
	Store   MediaStore
	Library *Library
}

// Timeout bounds one attempt. A message's URLs are fetched at once, each
// within the library's fetch timeout, so an attempt lasts about one fetch
// and the writes of the bytes and the message. It is also how late a job
// that a dead replica was running is tried again.
func (w *MediaWorker) Timeout(*river.Job[parley.MediaJob]) time.Duration {
	return cmp.Or(w.Library.FetchTimeout, DefaultFetchTimeout) + 30*time.Second
}

// Work fetches one message's media.
func (w *MediaWorker) Work(ctx context.Context, job *river.Job[parley.MediaJob]) error {
	a := job.Args
	msgs, err := w.Store.MessagesAt(ctx, a.TenantID, a.ConversationID, []int64{a.Seq})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil // erased since
	}
	media := slices.Clone(msgs[0].AttachedMedia)
	changed := make([]bool, len(media))
	var g errgroup.Group // at most parley.MaxMedia fetches, each bounded
	for i, m := range media {
		if m.Status != parley.MediaPending {
			continue
		}
		g.Go(func() error {
			field := fmt.Sprintf("message.attached_media[%d].url", i)
			got, err := w.Library.Keep(ctx, a.TenantID, m.URL, field)
			var pe *parley.Error
			switch {
			case errors.As(err, &pe):
				m.Status, m.Error = parley.MediaFailed, pe.Message
			case err != nil:
				return err // the store or the blob store: tried again
			default:
				m.Status, m.SHA256, m.MediaType, m.Size, m.Width, m.Height = parley.MediaStored, got.SHA256, got.MediaType, got.Size, got.Width, got.Height
				m.FileURL = fmt.Sprintf("/api/conversations/%s/messages/%d/media/%d", a.ConversationID, a.Seq, i)
			}
			media[i], changed[i] = m, true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if !slices.Contains(changed, true) {
		return nil
	}
	return w.Store.SetMessageMedia(ctx, a.TenantID, a.ConversationID, a.Seq, media)
}
