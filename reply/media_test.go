package reply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/reply"
)

func pixel(c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, c)
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// withLibrary gives the worker mk makes a content library in dir.
func withLibrary(dir string, mk func(reply.Store, *llmtest.Server) *reply.Worker) func(reply.Store, *llmtest.Server) *reply.Worker {
	return func(st reply.Store, srv *llmtest.Server) *reply.Worker {
		w := mk(st, srv)
		w.Library = &content.Library{Store: st.(content.Store), Blobs: blob.Dir{Root: dir}}
		return w
	}
}

// library fills a bot's library with a beach and a dog.
func library(t *testing.T, b *testBundle, dir, bot string) (beach, dog *parley.ContentItem) {
	lib := &content.Library{Store: b.st, Blobs: blob.Dir{Root: dir}}
	beach, _, err := lib.Add(b.ctx, b.tenant, content.Upload{BotID: bot, Data: pixel(color.RGBA{0, 0, 255, 255}),
		Title: "Sunset at the beach", Tags: []string{"beach", "sea"}, Field: "body.file"})
	require.NoError(t, err)
	dog, _, err = lib.Add(b.ctx, b.tenant, content.Upload{BotID: bot, Data: pixel(color.RGBA{120, 60, 0, 255}),
		Title: "Rufo the dog", Field: "body.file"})
	require.NoError(t, err)
	return beach, dog
}

// searchCounter is a library that counts its searches.
type searchCounter struct {
	reply.Library
	searches atomic.Int64
}

func (s *searchCounter) Search(ctx context.Context, tenantID, botID, query, mediaType string, offset, limit int) ([]parley.ContentItem, error) {
	s.searches.Add(1)
	return s.Library.Search(ctx, tenantID, botID, query, mediaType, offset, limit)
}

// TestEmptyLibraryNotSearched: a reply searches its bot's library only
// when the bot has an item in it (a search is a read of the store).
func TestEmptyLibraryNotSearched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var counters sync.Map // by engine's store
	counted := func(st reply.Store, srv *llmtest.Server) *reply.Worker {
		w := openai(st, srv)
		c := &searchCounter{Library: &content.Library{Store: st.(content.Store), Blobs: blob.Dir{Root: dir}}}
		counters.Store(st, c)
		w.Library = c
		return w
	}
	engines(t, counted, func(t *testing.T, b *testBundle) {
		c, _ := counters.Load(b.st)
		searches := &c.(*searchCounter).searches
		conv := b.conversation(t, parley.Bot{ID: "bot", Name: "Ana"})
		require.NoError(t, b.say(t, conv, "how was the beach?", false))
		b.replies(t, conv, 1)
		require.Zero(t, searches.Load(), "the bot has no library")
		beach, _ := library(t, b, dir, "bot")
		require.NoError(t, b.say(t, conv, "and the beach again?", false))
		b.replies(t, conv, 2)
		require.Equal(t, int64(1), searches.Load(), "the bot has items now")
		reqs := b.llm.Requests()
		require.Contains(t, string(reqs[len(reqs)-1].Tools), beach.ID, "and the one matching is offered")
	})
}

func TestBuiltinSendsMedia(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	engines(t, withLibrary(dir, builtin), func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Name: "Ana"})
		beach, _ := library(t, b, dir, "bot")
		require.NoError(t, b.say(t, conv, "Can you send me a photo of the beach?", false))
		got, _ := b.replies(t, conv, 1)
		require.Equal(t, []parley.Media{{URL: "/api/content/" + beach.ID + "/file", MediaType: "image/png", ContentID: beach.ID}},
			got[0].AttachedMedia)
		require.Contains(t, got[0].Text, "Here it is: Sunset at the beach.")

		require.NoError(t, b.say(t, conv, "What do you think of the beach?", false))
		got, _ = b.replies(t, conv, 2)
		require.Empty(t, got[1].AttachedMedia, "no picture asked for, none sent")
		require.NoError(t, b.say(t, conv, "a picture of a spaceship please", false))
		got, _ = b.replies(t, conv, 3)
		require.Empty(t, got[2].AttachedMedia, "nothing in the library matches")
	})
}

func TestModelSendsMedia(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	engines(t, withLibrary(dir, openai), func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Name: "Ana"})
		beach, dog := library(t, b, dir, "bot")
		// The model calls the tool with an offered id, an id never
		// offered and one twice, and writes nothing: it is asked again.
		b.llm.Script(llmtest.Step{ToolCalls: []llmtest.ToolCall{{Name: "send_media",
			Arguments: `{"content_ids":["` + beach.ID + `","made-up","` + beach.ID + `"]}`}}}, llmtest.Step{Text: "Look at this sunset!"})
		require.NoError(t, b.say(t, conv, "how was the beach and the dog?", false))
		got, _ := b.replies(t, conv, 1)
		require.Equal(t, "Look at this sunset!", got[0].Text)
		require.Equal(t, []parley.Media{{URL: "/api/content/" + beach.ID + "/file", MediaType: "image/png", ContentID: beach.ID}},
			got[0].AttachedMedia)

		reqs := b.llm.Requests()
		require.Len(t, reqs, 2)
		var tools []struct {
			Function struct {
				Name       string `json:"name"`
				Parameters struct {
					Properties struct {
						IDs struct {
							Items struct {
								Enum []string `json:"enum"`
							} `json:"items"`
						} `json:"content_ids"`
					} `json:"properties"`
				} `json:"parameters"`
			} `json:"function"`
		}
		require.NoError(t, json.Unmarshal(reqs[0].Tools, &tools))
		require.Equal(t, "send_media", tools[0].Function.Name)
		require.ElementsMatch(t, []string{beach.ID, dog.ID}, tools[0].Function.Parameters.Properties.IDs.Items.Enum,
			"the items matching the turn are offered")
		require.Contains(t, reqs[0].Messages[0].Content, "Sunset at the beach", "and described in the context")
		require.Empty(t, reqs[1].Tools, "the second request offers no tools")
		last := reqs[1].Messages[len(reqs[1].Messages)-1]
		require.Equal(t, "tool", last.Role)
		require.Equal(t, "sent: "+beach.ID, last.Content)

		// A turn the library has nothing for offers no tool.
		require.NoError(t, b.say(t, conv, "thanks, bye", false))
		b.replies(t, conv, 2)
		reqs = b.llm.Requests()
		require.Empty(t, reqs[len(reqs)-1].Tools)
		require.False(t, strings.Contains(reqs[len(reqs)-1].Messages[0].Content, "media library"))
	})
}
