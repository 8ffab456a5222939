package content_test

import (
	"context"
	"image/color"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/store"
)

func TestMediaWorker(t *testing.T) {
	t.Parallel()
	green := pngOf(t, 30, 20, color.RGBA{0, 200, 0, 255})
	host := serveOn(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/green.png":
			w.Write(green)
		case "/page.png":
			w.Header().Set("Content-Type", "image/png")
			io.WriteString(w, "<html><body>no</body></html>")
		default:
			http.NotFound(w, r)
		}
	}))
	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		workers := river.NewWorkers()
		w := &content.MediaWorker{}
		river.AddWorker(workers, w)
		st := enginetest.Open(t, engine, enginetest.Options{Queue: store.QueueOptions{Workers: workers, MediaConcurrency: 2}})
		blobs := blob.Dir{Root: t.TempDir()}
		lib := &content.Library{Store: st, Blobs: blobs,
			Client: egress.NewClient(egress.Options{Permit: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Redirects: 5})}
		w.Store, w.Library = st, lib
		require.NoError(t, st.StartWorkers(ctx))
		tenant, err := st.EnsureTenant(ctx, "t")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
		require.NoError(t, err)
		c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "ana"}, CreateUser: true})
		require.NoError(t, err)
		res, err := st.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "look at these", Bubbles: []string{"look at these"},
			NoReply: true, AttachedMedia: []parley.Media{{URL: host + "/green.png"}, {URL: host + "/page.png"},
				{URL: "http://127.0.0.1:1/secret.png"}, {ContentID: "c-1"}}})
		require.NoError(t, err)
		seq := res.Message.Seq

		var media []parley.Media
		require.Eventually(t, func() bool {
			msgs, err := st.MessagesAt(ctx, tenant.ID, c.ID, []int64{seq})
			require.NoError(t, err)
			media = msgs[0].AttachedMedia
			require.Equal(t, "look at these", msgs[0].Text, "the message is kept whatever its media")
			return media[0].Status != parley.MediaPending
		}, 15*time.Second, 20*time.Millisecond)
		require.Equal(t, parley.MediaStored, media[0].Status)
		require.Equal(t, "image/png", media[0].MediaType)
		require.Equal(t, [2]int{30, 20}, [2]int{media[0].Width, media[0].Height})
		require.Equal(t, int64(len(green)), media[0].Size)
		require.Equal(t, "/api/conversations/"+c.ID+"/messages/1/media/0", media[0].FileURL)
		require.Equal(t, parley.MediaFailed, media[1].Status)
		require.Contains(t, media[1].Error, "text/html")
		require.Equal(t, parley.MediaFailed, media[2].Status)
		require.Contains(t, media[2].Error, "may not reach")
		require.Equal(t, parley.Media{ContentID: "c-1"}, media[3], "a library item is left as it is")
		r, _, err := lib.OpenMedia(ctx, tenant.ID, media[0])
		require.NoError(t, err)
		got, _ := io.ReadAll(r)
		r.Close()
		require.Equal(t, green, got)
		_, _, err = lib.OpenMedia(ctx, tenant.ID, media[1])
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		// A job done again changes nothing.
		require.NoError(t, w.Work(ctx, &river.Job[parley.MediaJob]{Args: parley.MediaJob{TenantID: tenant.ID, ConversationID: c.ID, Seq: seq}}))
		msgs, err := st.MessagesAt(ctx, tenant.ID, c.ID, []int64{seq})
		require.NoError(t, err)
		require.Equal(t, media, msgs[0].AttachedMedia)

		// Erasing the user erases the bytes only they sent.
		require.NoError(t, lib.DeleteUser(ctx, tenant.ID, "ana"))
		_, _, err = blobs.Open(ctx, content.BlobKey(tenant.ID, media[0].SHA256, false))
		require.ErrorIs(t, err, blob.ErrNotFound)
	})
}
