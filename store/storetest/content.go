package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) content(t *testing.T) {
	item := func(bot, sum, mediaType, title string, tags ...string) *parley.ContentItem {
		return &parley.ContentItem{BotID: bot, SHA256: sum, MediaType: mediaType, Size: 10, Width: 4, Height: 3,
			Title: title, Tags: tags}
	}
	ids := func(items []parley.ContentItem) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	t.Run("AddContent", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		for _, bot := range []string{"bot-1", "bot-2"} {
			_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: bot})
			require.NoError(t, err)
		}
		first, created, err := b.store.AddContent(b.ctx, b.t1.ID, item("bot-1", "aa", "image/png", "Red car", "car", "red"))
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "Red car", first.Title)
		require.Equal(t, []string{"car", "red"}, first.Tags)
		require.Equal(t, 4, first.Width)
		again, created, err := b.store.AddContent(b.ctx, b.t1.ID, item("bot-1", "aa", "image/png", "Another title"))
		require.NoError(t, err)
		require.False(t, created, "the same bytes for the same bot are the same item")
		require.Equal(t, first.ID, again.ID)
		require.Equal(t, "Red car", again.Title, "and it is not changed")
		other, created, err := b.store.AddContent(b.ctx, b.t1.ID, item("bot-2", "aa", "image/png", "Mine"))
		require.NoError(t, err)
		require.True(t, created, "another bot's library has its own item")
		require.NotEqual(t, first.ID, other.ID)
		_, _, err = b.store.AddContent(b.ctx, b.t1.ID, item("nope", "bb", "image/png", "x"))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, "body.bot_id", fieldOf(err))
		_, _, err = b.store.AddContent(b.ctx, b.t2.ID, item("bot-1", "bb", "image/png", "x"))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's bot")

		got, err := b.store.GetContent(b.ctx, b.t1.ID, first.ID)
		require.NoError(t, err)
		require.Equal(t, first, got)
		_, err = b.store.GetContent(b.ctx, b.t2.ID, first.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
	t.Run("ListContent", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot-1"})
		require.NoError(t, err)
		_, err = b.store.CreateBot(b.ctx, b.t2.ID, &parley.Bot{ID: "bot-1"})
		require.NoError(t, err)
		var all []*parley.ContentItem
		for _, it := range []*parley.ContentItem{
			item("bot-1", "1", "image/png", "Sunset over the lake", "beach"),
			item("bot-1", "2", "image/jpeg", "Dog in the park", "dog"),
			item("bot-1", "3", "video/mp4", "Sunset timelapse"),
			item("bot-1", "4", "image/gif", "Dancing dogs"),
		} {
			got, _, err := b.store.AddContent(b.ctx, b.t1.ID, it)
			require.NoError(t, err)
			all = append(all, got)
		}
		_, _, err = b.store.AddContent(b.ctx, b.t2.ID, item("bot-1", "9", "image/png", "Sunset dog"))
		require.NoError(t, err)

		list := func(f parley.ContentFilter) []string {
			f.BotID = "bot-1"
			if f.Limit == 0 {
				f.Limit = 10
			}
			got, err := b.store.ListContent(b.ctx, b.t1.ID, f)
			require.NoError(t, err)
			return ids(got)
		}
		require.Equal(t, []string{all[3].ID, all[2].ID, all[1].ID, all[0].ID}, list(parley.ContentFilter{}), "newest first")
		require.Equal(t, []string{all[3].ID, all[2].ID}, list(parley.ContentFilter{Limit: 2}))
		require.Equal(t, []string{all[1].ID, all[0].ID}, list(parley.ContentFilter{BeforeID: all[2].ID}))
		require.Equal(t, []string{all[3].ID, all[1].ID, all[0].ID}, list(parley.ContentFilter{MediaType: "image"}))
		require.Equal(t, []string{all[1].ID}, list(parley.ContentFilter{MediaType: "image/jpeg"}))
		require.Equal(t, []string{}, list(parley.ContentFilter{MediaType: "imag"}), "a type matches whole")

		search := func(mediaType string, terms ...string) []string {
			return list(parley.ContentFilter{Terms: terms, PerTerm: 10, MediaType: mediaType})
		}
		require.ElementsMatch(t, []string{all[2].ID, all[0].ID}, search("", "sunset"), "the other tenant's sunset is not found")
		require.ElementsMatch(t, []string{all[3].ID, all[1].ID}, search("", "dogs"), "stems match")
		require.ElementsMatch(t, []string{all[0].ID}, search("", "beach"), "tags are searched")
		require.ElementsMatch(t, []string{all[0].ID}, search("image", "sunset"))
		require.ElementsMatch(t, []string{all[2].ID, all[0].ID, all[1].ID}, search("", "sunset", "park"), "a match per term")
		require.ElementsMatch(t, []string{all[2].ID, all[0].ID}, search("", `"sunset" (*`), "query syntax is only words")
		require.ElementsMatch(t, []string{all[2].ID, all[0].ID}, search("", "SUNSETS", "of", "a"), "words too short to index find nothing")
		require.Equal(t, []string{all[3].ID}, list(parley.ContentFilter{Terms: []string{"dancing", "dogs"}, PerTerm: 1}),
			"PerTerm: the newest of each term, each item once")
		entries := func() int {
			n := 0
			for _, it := range all {
				n += len(it.SearchTerms())
			}
			return n + len(parley.IndexTerms("Sunset dog")) // the other tenant's
		}
		require.Equal(t, entries(), s.h.Rows(t, b.store, "content_terms"), "one index entry per item and term")

		// A patch is searched by its new text.
		title := "Golden retriever"
		_, err = b.store.PatchContent(b.ctx, b.t1.ID, all[1].ID, parley.ContentPatch{Title: &title})
		require.NoError(t, err)
		require.Equal(t, []string{all[1].ID}, search("", "retriever"))
		require.Equal(t, []string{}, search("", "park"))
		all[1].Title = title
		require.Equal(t, entries(), s.h.Rows(t, b.store, "content_terms"), "an edit leaves no entry of the old text behind")
		empty := []string{""}
		_, err = b.store.PatchContent(b.ctx, b.t1.ID, all[1].ID, parley.ContentPatch{Tags: &empty})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		_, err = b.store.PatchContent(b.ctx, b.t2.ID, all[1].ID, parley.ContentPatch{Title: &title})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
	t.Run("DeleteContent", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		for _, bot := range []string{"bot-1", "bot-2"} {
			_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: bot})
			require.NoError(t, err)
		}
		one, _, err := b.store.AddContent(b.ctx, b.t1.ID, item("bot-1", "aa", "image/png", "sunset"))
		require.NoError(t, err)
		two, _, err := b.store.AddContent(b.ctx, b.t1.ID, item("bot-2", "aa", "image/png", "sunset"))
		require.NoError(t, err)
		_, _, err = b.store.DeleteContent(b.ctx, b.t2.ID, one.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		gone, shared, err := b.store.DeleteContent(b.ctx, b.t1.ID, one.ID)
		require.NoError(t, err)
		require.Equal(t, one.ID, gone.ID)
		require.True(t, shared, "bot-2 still has the bytes")
		_, err = b.store.GetContent(b.ctx, b.t1.ID, one.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		// Deleting a bot deletes its items, out of search too.
		require.NoError(t, b.store.DeleteBot(b.ctx, b.t1.ID, "bot-2"))
		_, err = b.store.GetContent(b.ctx, b.t1.ID, two.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		used, err := b.store.ContentReferenced(b.ctx, b.t1.ID, "aa")
		require.NoError(t, err)
		require.False(t, used)
		_, err = b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot-2"})
		require.NoError(t, err)
		got, err := b.store.ListContent(b.ctx, b.t1.ID, parley.ContentFilter{BotID: "bot-2", Terms: []string{"sunset"}, PerTerm: 5})
		require.NoError(t, err)
		require.Empty(t, got, "a new bot of the same id inherits nothing")
		require.Zero(t, s.h.Rows(t, b.store, "content_terms"), "deleted items leave no index entries")
	})
	t.Run("MessageMedia", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		res, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: "look", Bubbles: []string{"look"},
			AttachedMedia: []parley.Media{{URL: "https://example.com/a.png"}, {ContentID: "c-1"}}})
		require.NoError(t, err)
		seq := res.Message.Seq
		require.Equal(t, parley.MediaPending, res.Message.AttachedMedia[0].Status, "a URL a user sent is to be fetched")
		require.Empty(t, res.Message.AttachedMedia[1].Status, "a library item is not")
		require.Equal(t, 1, s.h.Jobs(t, b.store, "media", c.ID), "its fetch is queued with it")
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "mine", Bubbles: []string{"mine"},
			AttachedMedia: []parley.Media{{URL: "https://example.com/b.png"}}})
		require.NoError(t, err)
		require.Equal(t, 1, s.h.Jobs(t, b.store, "media", c.ID), "a bot's URLs are the integrator's to serve")

		fetched := []parley.Media{{URL: "https://example.com/a.png", Status: parley.MediaStored, SHA256: "aa", Size: 3, MediaType: "image/png"},
			{ContentID: "c-1"}}
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.SetMessageMedia(b.ctx, b.t2.ID, c.ID, seq, fetched)), "another tenant's")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.SetMessageMedia(b.ctx, b.t1.ID, c.ID, 99, fetched)))
		require.NoError(t, b.store.SetMessageMedia(b.ctx, b.t1.ID, c.ID, seq, fetched))
		require.NoError(t, b.store.SetMessageMedia(b.ctx, b.t1.ID, c.ID, seq, fetched), "set again (a job redone)")
		got, err := b.store.MessagesAt(b.ctx, b.t1.ID, c.ID, []int64{seq})
		require.NoError(t, err)
		require.Equal(t, fetched, got[0].AttachedMedia)
		used, err := b.store.ContentReferenced(b.ctx, b.t1.ID, "aa")
		require.NoError(t, err)
		require.True(t, used, "a message's bytes are in use")
		used, err = b.store.ContentReferenced(b.ctx, b.t2.ID, "aa")
		require.NoError(t, err)
		require.False(t, used, "by its tenant only")
		for _, owner := range []parley.MediaOwner{{UserID: "user-1"}, {BotID: "bot-1"}} {
			sums, err := b.store.MediaOf(b.ctx, b.t1.ID, owner)
			require.NoError(t, err)
			require.Equal(t, []string{"aa"}, sums, "%+v", owner)
		}
		for _, owner := range []parley.MediaOwner{{UserID: "user-2"}, {}} {
			sums, err := b.store.MediaOf(b.ctx, b.t1.ID, owner)
			require.NoError(t, err)
			require.Empty(t, sums, "%+v", owner)
		}
		unused, err := b.store.Unreferenced(b.ctx, b.t1.ID, []string{"aa", "zz", "aa"})
		require.NoError(t, err)
		require.Equal(t, []string{"zz"}, unused, "what nothing names, once each")
		unused, err = b.store.Unreferenced(b.ctx, b.t2.ID, []string{"aa"})
		require.NoError(t, err)
		require.Equal(t, []string{"aa"}, unused, "another tenant's bytes are not this one's")
		require.NoError(t, b.store.DeleteUser(b.ctx, b.t1.ID, "user-1"))
		unused, err = b.store.Unreferenced(b.ctx, b.t1.ID, []string{"aa"})
		require.NoError(t, err)
		require.Equal(t, []string{"aa"}, unused)
		used, err = b.store.ContentReferenced(b.ctx, b.t1.ID, "aa")
		require.NoError(t, err)
		require.False(t, used, "erased with the user's messages")
	})
}
