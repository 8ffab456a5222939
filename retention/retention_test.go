package retention_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/retention"
)

func TestWorker(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		blobs := blob.Dir{Root: t.TempDir()}
		lib := &content.Library{Store: st, Blobs: blobs}
		tenant, err := st.EnsureTenant(ctx, "t")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
		require.NoError(t, err)
		var convs []string
		for _, user := range []string{"ana", "bob"} {
			c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
				ConversationKey: parley.ConversationKey{BotID: "bot", UserID: user}, CreateUser: true})
			require.NoError(t, err)
			_, err = st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}, NoReply: true})
			require.NoError(t, err)
			convs = append(convs, c.ID)
		}
		// Ana's message kept a file; the library has the same bytes too
		// under another bot, so only one of two blobs goes.
		img := image.NewRGBA(image.Rect(0, 0, 2, 2))
		img.Set(0, 0, color.RGBA{1, 2, 3, 255})
		var b bytes.Buffer
		require.NoError(t, png.Encode(&b, img))
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "keeper"})
		require.NoError(t, err)
		item, _, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "keeper", Data: b.Bytes(), Field: "body.file"})
		require.NoError(t, err)
		require.NoError(t, st.SetMessageMedia(ctx, tenant.ID, convs[0], 1, []parley.Media{{URL: "https://example.com/x.png",
			Status: parley.MediaStored, SHA256: item.SHA256}, {URL: "https://example.com/y.png", Status: parley.MediaStored, SHA256: "only-ana"}}))
		require.NoError(t, blobs.Put(ctx, content.BlobKey(tenant.ID, "only-ana", false), bytes.NewReader([]byte("y")), 1, "image/png"))

		require.NoError(t, st.SetRetention(ctx, tenant.ID, "bot", 30))
		w := &retention.Worker{Store: st, Blobs: lib, Now: func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }}
		require.NoError(t, w.Work(ctx, &river.Job[parley.RetentionJob]{}))
		for _, id := range convs {
			_, err := st.GetConversation(ctx, tenant.ID, id)
			require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		}
		_, _, err = blobs.Open(ctx, content.BlobKey(tenant.ID, "only-ana", false))
		require.ErrorIs(t, err, blob.ErrNotFound, "bytes only the deleted messages had")
		_, _, err = blobs.Open(ctx, content.BlobKey(tenant.ID, item.SHA256, false))
		require.NoError(t, err, "bytes the library still has")
		audit, err := st.ListAudit(ctx, tenant.ID, "", 10)
		require.NoError(t, err)
		require.Len(t, audit, 1)
		require.Equal(t, parley.AuditRetention, audit[0].Action)
		require.Equal(t, "bot", audit[0].Subject)
		require.Equal(t, map[string]int64{"conversations": 2, "messages": 2, "media": 2}, audit[0].Counts)
		require.NoError(t, w.Work(ctx, &river.Job[parley.RetentionJob]{}), "nothing left: nothing done")
		audit, err = st.ListAudit(ctx, tenant.ID, "", 10)
		require.NoError(t, err)
		require.Len(t, audit, 1)
	})
}
