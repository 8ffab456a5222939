package content_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/internal/enginetest"
)

func pngOf(t testing.TB, w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// serveOn starts a real HTTP server on a loopback address of choice.
func serveOn(t *testing.T, addr string, h http.Handler) string {
	l, err := net.Listen("tcp", addr+":0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestLibrary(t *testing.T) {
	t.Parallel()
	red := pngOf(t, 64, 32, color.RGBA{255, 0, 0, 255})
	var streamed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/red.jpg", func(w http.ResponseWriter, r *http.Request) { // a PNG named .jpg, said to be a JPEG
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(red)
	})
	mux.HandleFunc("/page.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		io.WriteString(w, "<!DOCTYPE html><html><body>not an image</body></html>")
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) { // 1 GB, no Content-Length
		chunk := bytes.Repeat([]byte{0}, 64<<10)
		for range (1 << 30) / len(chunk) {
			n, err := w.Write(chunk)
			streamed.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/named", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="../../sunset.png"`)
		w.Write(pngOf(t, 8, 8, color.RGBA{0, 0, 255, 255}))
	})
	// The media host is on 127.0.0.2, the one address the guard is told
	// to permit; 127.0.0.1 stays refused, so redirects there are too.
	host := serveOn(t, "127.0.0.2", mux)
	inner := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(red) }))
	mux.HandleFunc("/to-inner", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, inner+"/x", http.StatusFound) })
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-metadata-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://metadata.google.internal/computeMetadata/v1/", http.StatusFound)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/to-red", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/red.jpg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })

	enginetest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := enginetest.Open(t, engine, enginetest.Options{})
		tenant, err := st.EnsureTenant(ctx, "t")
		require.NoError(t, err)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
		require.NoError(t, err)
		blobs := blob.Dir{Root: t.TempDir()}
		lib := &content.Library{Store: st, Blobs: blobs, MaxBytes: 1 << 20,
			Client: egress.NewClient(egress.Options{Permit: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Redirects: 5})}
		add := func(url string) (*parley.ContentItem, bool, error) {
			return lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", URL: url, Field: "body.image_url", Title: "Red square"})
		}

		it, created, err := add(host + "/red.jpg")
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "image/png", it.MediaType, "the bytes decide, not the name or the header")
		require.Equal(t, [2]int{64, 32}, [2]int{it.Width, it.Height})
		require.Equal(t, int64(len(red)), it.Size)
		require.Equal(t, "red.jpg", it.FileName)
		require.Equal(t, host+"/red.jpg", it.SourceURL)
		require.True(t, it.HasThumbnail)
		r, _, err := lib.Open(ctx, tenant.ID, it, false)
		require.NoError(t, err)
		got, _ := io.ReadAll(r)
		r.Close()
		require.Equal(t, red, got)

		again, created, err := add(host + "/to-red") // the same bytes through a redirect
		require.NoError(t, err)
		require.False(t, created, "the same bytes again: the existing item")
		require.Equal(t, it.ID, again.ID)

		named, _, err := add(host + "/named")
		require.NoError(t, err)
		require.Equal(t, "sunset.png", named.FileName, "Content-Disposition's name, without its path")

		for _, tc := range []struct{ url, want string }{
			{host + "/page.png", "text/html"},
			{host + "/gone", "404"},
			{host + "/to-inner", "may not reach"},
			{host + "/to-metadata", "may not reach"},
			{host + "/to-metadata-name", "may not reach"},
			{host + "/to-file", "file URL"},
			{host + "/loop", "more than 5 redirects"},
			{inner + "/x", "may not reach"},
			{"http://localhost:1/x", "may not reach"},
			{"http://127.1/x", "may not reach"},
			{"http://2130706433/x", "may not reach"},
			{"http://0x7f000001/x", "may not reach"},
			{"http://[::1]/x", "may not reach"},
			{"http://[::ffff:127.0.0.1]/x", "may not reach"},
			{"http://10.0.0.1/x", "may not reach"},
			{"http://192.168.1.1/x", "may not reach"},
			{"http://169.254.169.254/latest/meta-data/", "may not reach"},
			{"http://metadata.google.internal/computeMetadata/v1/", "may not reach"},
			{"file:///etc/passwd", "http or https"},
			{"gopher://example.com/", "http or https"},
			{"ftp://example.com/x.png", "http or https"},
			{"not a url", "http or https"},
		} {
			_, _, err := add(tc.url)
			require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%s: %v", tc.url, err)
			require.Equal(t, "body.image_url", err.(*parley.Error).Field, tc.url)
			require.Contains(t, err.Error(), tc.want, tc.url)
		}
		_, _, err = add(host + "/huge")
		require.Equal(t, parley.ETOOLARGE, parley.ErrorCode(err), "%v", err)
		require.Less(t, streamed.Load(), int64(64<<20), "the fetch stopped at the limit, not at 1 GB")

		items, err := st.ListContent(ctx, tenant.ID, parley.ContentFilter{BotID: "bot", Limit: 10})
		require.NoError(t, err)
		require.Len(t, items, 2, "nothing refused was stored")

		_, _, err = lib.Add(ctx, tenant.ID, content.Upload{BotID: "nope", URL: host + "/red.jpg", Field: "body.image_url"})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, _, err = lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", Data: red, MediaType: "video", Field: "body.file"})
		require.ErrorContains(t, err, "not the video claimed")

		// Search, then delete: the bytes go with their last item.
		hits, err := lib.Search(ctx, tenant.ID, "bot", "red squares", "", 0, 10)
		require.NoError(t, err)
		require.Equal(t, it.ID, hits[0].ID)
		_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot-2"})
		require.NoError(t, err)
		theirs, created, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot-2", Data: red, FileName: "r.png", Field: "body.file"})
		require.NoError(t, err)
		require.True(t, created)
		require.NoError(t, lib.Delete(ctx, tenant.ID, it.ID))
		_, _, err = blobs.Open(ctx, content.BlobKey(tenant.ID, it.SHA256, false))
		require.NoError(t, err, "bot-2's item still has the bytes")
		require.NoError(t, lib.Delete(ctx, tenant.ID, theirs.ID))
		for _, thumb := range []bool{false, true} {
			_, _, err = blobs.Open(ctx, content.BlobKey(tenant.ID, it.SHA256, thumb))
			require.ErrorIs(t, err, blob.ErrNotFound, fmt.Sprint("thumb ", thumb))
		}
	})
}
