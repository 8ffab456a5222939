package httpapi_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/content"
)

func square(t *testing.T, w, h int, c color.RGBA) []byte {
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

// mediaHost serves files on 127.0.0.2, where the test library may fetch.
func mediaHost(t *testing.T, files map[string][]byte) string {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestContentLibrary(t *testing.T) {
	t.Parallel()
	sunset := square(t, 600, 300, color.RGBA{250, 120, 40, 255})
	dog := square(t, 40, 40, color.RGBA{120, 80, 40, 255})
	host := mediaHost(t, map[string][]byte{"/sunset-beach.png": sunset, "/dog.jpg": dog,
		"/page.png": []byte("<!DOCTYPE html><html><body>hi</body></html>"), "/big.png": bytes.Repeat([]byte{1}, 2<<20)})
	engines(t, func(t *testing.T, b *testBundle) {
		b.conversation(t, b.admin, "bot-456", "user-789")

		// The seeds' uploadContent: a JSON body with no Content-Type.
		res := b.do(t, b.user, "POST", "/api/content", `{"bot_id":"bot-456","image_url":"`+host+`/sunset-beach.png"}`)
		require.Equal(t, 201, res.status, res.raw)
		item := res.body
		id := item["id"].(string)
		require.Equal(t, "image/png", item["media_type"])
		require.Equal(t, float64(600), item["width"])
		require.Equal(t, "sunset-beach.png", item["file_name"])
		require.Equal(t, "/api/content/"+id+"/file", item["url"])
		res = b.do(t, b.user, "POST", "/api/content", map[string]any{"bot_id": "bot-456", "image_url": host + "/sunset-beach.png",
			"title": "ignored"})
		require.Equal(t, 200, res.status, "the same bytes again: the item the bot has")
		require.Equal(t, id, res.body["id"])

		res = b.do(t, b.user, "POST", "/api/content", map[string]any{"bot_id": "bot-456", "image_url": host + "/dog.jpg",
			"title": "Our dog Rufo", "tags": []string{"pets", "dog"}, "media_type": "image"})
		require.Equal(t, 201, res.status, res.raw)
		require.Equal(t, "image/png", res.body["media_type"], "a PNG named .jpg is a PNG")
		dogID := res.body["id"].(string)

		// The seeds' searchContent.
		search := func(token, q, mediaType string) response {
			v := url.Values{"bot_id": {"bot-456"}, "search": {q}}
			if mediaType != "" {
				v.Set("media_type", mediaType)
			}
			return b.do(t, token, "GET", "/api/content?"+v.Encode(), nil)
		}
		res = search(b.user, "sunset", "image")
		require.Equal(t, 200, res.status, res.raw)
		items := res.body["items"].([]any)
		require.Len(t, items, 1)
		require.Equal(t, id, items[0].(map[string]any)["id"])
		require.Equal(t, dogID, search(b.user, "a photo of my dog", "").body["items"].([]any)[0].(map[string]any)["id"])
		require.Empty(t, search(b.user, "sunset", "video").body["items"])
		res = b.do(t, b.user, "GET", "/api/content?bot_id=bot-456&limit=1", nil)
		require.Len(t, res.body["items"], 1)
		next := b.do(t, b.user, "GET", "/api/content?bot_id=bot-456&limit=1&cursor="+res.body["next_cursor"].(string), nil)
		require.Len(t, next.body["items"], 1)
		require.NotEqual(t, res.body["items"], next.body["items"])

		// Refusals name the cause and store nothing.
		for _, tc := range []struct {
			body   map[string]any
			status int
			field  string
		}{
			{map[string]any{"bot_id": "bot-456", "image_url": host + "/page.png"}, 422, "body.image_url"},
			{map[string]any{"bot_id": "bot-456", "image_url": host + "/missing.png"}, 422, "body.image_url"},
			{map[string]any{"bot_id": "bot-456", "image_url": host + "/big.png"}, 413, "body.image_url"},
			{map[string]any{"bot_id": "bot-456", "image_url": "http://127.0.0.1:1/x.png"}, 422, "body.image_url"},
			{map[string]any{"bot_id": "bot-456", "image_url": "file:///etc/passwd"}, 422, "body.image_url"},
			{map[string]any{"bot_id": "nope", "image_url": host + "/dog.jpg"}, 404, "body.bot_id"},
			{map[string]any{"bot_id": "bot-456", "image_url": host + "/dog.jpg", "tags": []string{" "}}, 422, "body.tags"},
			{map[string]any{"bot_id": "bot-456"}, 422, "body.image_url"},
		} {
			res := b.do(t, b.user, "POST", "/api/content", tc.body)
			require.Equal(t, tc.status, res.status, "%v: %s", tc.body, res.raw)
			require.Equal(t, tc.field, problemField(res), res.raw)
		}
		require.Len(t, b.do(t, b.user, "GET", "/api/content?bot_id=bot-456", nil).body["items"], 2)

		// The file and its thumbnail, cached by their hash.
		req, _ := http.NewRequest("GET", b.url+"/api/content/"+id+"/file", nil)
		req.Header.Set("Authorization", "Bearer "+b.user)
		raw, err := b.client.Do(req)
		require.NoError(t, err)
		got, _ := io.ReadAll(raw.Body)
		raw.Body.Close()
		require.Equal(t, 200, raw.StatusCode)
		require.Equal(t, sunset, got)
		require.Equal(t, "image/png", raw.Header.Get("Content-Type"))
		require.Equal(t, "nosniff", raw.Header.Get("X-Content-Type-Options"))
		etag := raw.Header.Get("ETag")
		require.Equal(t, `"`+item["sha256"].(string)+`"`, etag)
		require.Equal(t, 304, b.do(t, b.user, "GET", "/api/content/"+id+"/file", nil, "If-None-Match", etag).status)
		thumb := b.do(t, b.user, "GET", "/api/content/"+id+"/thumbnail", nil)
		require.Equal(t, 200, thumb.status)
		cfg, err := png.DecodeConfig(bytes.NewReader([]byte(thumb.raw)))
		require.NoError(t, err)
		require.Equal(t, [2]int{content.ThumbnailSize, 160}, [2]int{cfg.Width, cfg.Height})

		small := b.do(t, b.user, "GET", "/api/content/"+dogID+"/thumbnail", nil)
		require.Equal(t, 200, small.status)
		require.Equal(t, string(dog), small.raw, "an image that fits is its own thumbnail")

		// Multipart upload.
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		fw, _ := mw.CreateFormFile("file", "red.gif")
		fw.Write(square(t, 10, 10, color.RGBA{255, 0, 0, 255}))
		mw.WriteField("bot_id", "bot-456")
		mw.WriteField("title", "Red")
		mw.WriteField("tags", "red")
		mw.WriteField("tags", "square")
		mw.Close()
		res = b.do(t, b.user, "POST", "/api/content/upload", form.String(), "Content-Type", mw.FormDataContentType())
		require.Equal(t, 201, res.status, res.raw)
		require.Equal(t, "image/png", res.body["media_type"])
		require.Equal(t, []any{"red", "square"}, res.body["tags"])
		redID := res.body["id"].(string)

		// Edit, then delete.
		res = b.do(t, b.user, "PATCH", "/api/content/"+dogID, map[string]any{"title": "Rufo at the park", "caption": "a brown dog"})
		require.Equal(t, 200, res.status, res.raw)
		require.Equal(t, dogID, search(b.user, "park", "").body["items"].([]any)[0].(map[string]any)["id"])
		require.Equal(t, 422, b.do(t, b.user, "PATCH", "/api/content/"+dogID, map[string]any{"tags": []string{""}}).status)

		// Another tenant sees none of it, on every call.
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/content/" + id}, {"GET", "/api/content/" + id + "/file"}, {"GET", "/api/content/" + id + "/thumbnail"},
			{"PATCH", "/api/content/" + id}, {"DELETE", "/api/content/" + id}, {"GET", "/api/content?bot_id=bot-456&search=sunset"},
		} {
			var body any
			if c.method == "PATCH" {
				body = map[string]any{"title": "mine"}
			}
			require.Equal(t, 404, b.do(t, b.other, c.method, c.path, body).status, c.method+" "+c.path)
		}
		res = b.do(t, b.other, "POST", "/api/content", map[string]any{"bot_id": "bot-456", "image_url": host + "/dog.jpg"})
		require.Equal(t, 404, res.status)
		require.Equal(t, 401, b.do(t, "", "GET", "/api/content/"+id+"/file", nil).status)

		require.Equal(t, 204, b.do(t, b.user, "DELETE", "/api/content/"+redID, nil).status)
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/content/"+redID, nil).status)
		// Deleting the bot deletes its items and their bytes.
		require.Equal(t, 204, b.do(t, b.admin, "DELETE", "/api/bots/bot-456", nil).status)
		_, _, err = b.blobs.Open(t.Context(), content.BlobKey(b.tenant, item["sha256"].(string), false))
		require.Error(t, err, "the bytes went with the bot's last item")
	})
}

func TestMessageMedia(t *testing.T) {
	t.Parallel()
	photo := square(t, 12, 12, color.RGBA{10, 20, 30, 255})
	host := mediaHost(t, map[string][]byte{"/photo.png": photo})
	engines(t, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, b.admin, "bot-1", "user-1")
		res := b.do(t, b.user, "POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{
			"text": "my cat", "attached_media": []any{map[string]any{"url": host + "/photo.png", "status": "stored", "sha256": "forged"}}}})
		require.Equal(t, 201, res.status, res.raw)
		msg := res.body["message"].(map[string]any)
		media := msg["attached_media"].([]any)[0].(map[string]any)
		require.Equal(t, "pending", media["status"], "status is the server's")
		require.Nil(t, media["sha256"])

		// The media worker, as the server runs it.
		w := &content.MediaWorker{Store: b.store.(content.MediaStore), Library: b.library}
		require.NoError(t, w.Work(t.Context(), &river.Job[parley.MediaJob]{Args: parley.MediaJob{TenantID: b.tenant,
			ConversationID: conv, Seq: int64(msg["seq"].(float64))}}))
		res = b.do(t, b.user, "GET", "/api/conversations/"+conv, nil)
		require.Equal(t, 200, res.status)
		msgs := res.body["messages"].([]any)
		media = msgs[len(msgs)-1].(map[string]any)["attached_media"].([]any)[0].(map[string]any)
		require.Equal(t, "stored", media["status"], res.raw)
		file := media["file_url"].(string)
		got := b.do(t, b.user, "GET", file, nil)
		require.Equal(t, 200, got.status)
		require.Equal(t, string(photo), got.raw)
		require.Equal(t, "image/png", got.header.Get("Content-Type"))
		require.Equal(t, 404, b.do(t, b.other, "GET", file, nil).status, "another tenant")
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/conversations/"+conv+"/messages/1/media/5", nil).status)
		require.Equal(t, 404, b.do(t, b.user, "GET", "/api/conversations/"+conv+"/messages/x/media/0", nil).status)
	})
}
