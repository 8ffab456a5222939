package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) memories(t *testing.T) {
	name := parley.Fact{Kind: parley.KindName, Key: "name", Text: "Name: Ana", Confidence: 0.9, SourceSeqs: []int64{1}}
	home := parley.Fact{Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Madrid", Confidence: 0.8, SourceSeqs: []int64{2}}
	list := func(t *testing.T, b *testBundle, tenant *parley.Tenant, f parley.MemoryFilter) []parley.Memory {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 50
		}
		ms, err := b.store.ListMemories(b.ctx, tenant.ID, f)
		require.NoError(t, err)
		return ms
	}
	texts := func(ms []parley.Memory) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}

	t.Run("StoreMemories", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "ana")
		for _, text := range []string{"My name is Ana", "I live in Madrid", "Ana here", "I moved to Paris"} {
			appendText(t, b, b.t1, c.ID, text)
		}
		stored, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 2, []parley.Fact{name, home})
		require.NoError(t, err)
		require.Len(t, stored, 2)
		got, err := b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), got.MemoriesSeq, "current up to the messages read")
		all := list(t, b, b.t1, parley.MemoryFilter{BotID: "bot", UserID: "ana"})
		require.ElementsMatch(t, []string{"Name: Ana", "Lives in Madrid"}, texts(all))
		for _, m := range all {
			require.Equal(t, "bot", m.BotID)
			require.Equal(t, "ana", m.UserID)
			require.Equal(t, c.ID, m.ConversationID)
			require.Equal(t, 1, m.Confirmations)
			require.Equal(t, 1, m.Version)
		}

		// The same messages again (a job done twice): nothing changes.
		again, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 2, []parley.Fact{name, home})
		require.NoError(t, err)
		require.Empty(t, again)
		require.Len(t, list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"}), 2, "no duplicate")

		// A restatement confirms; a contradiction supersedes, the old text
		// kept in the history.
		confirm := name
		confirm.SourceSeqs = []int64{3}
		moved := parley.Fact{Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Paris", Confidence: 0.8, SourceSeqs: []int64{4}}
		changed, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 4, []parley.Fact{confirm, moved})
		require.NoError(t, err)
		require.Len(t, changed, 2)
		var n, h *parley.Memory
		for _, m := range list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"}) {
			switch m.Key {
			case "name":
				n = &m
			case "place:home":
				h = &m
			}
		}
		require.Equal(t, 2, n.Confirmations)
		require.Equal(t, []int64{1, 3}, n.SourceSeqs)
		require.Equal(t, "Lives in Paris", h.Text)
		require.Equal(t, 2, h.Version)
		require.Equal(t, []int64{4}, h.SourceSeqs)
		history, err := b.store.MemoryHistory(b.ctx, b.t1.ID, h.ID)
		require.NoError(t, err)
		require.Len(t, history, 1)
		require.Equal(t, "Lives in Madrid", history[0].Text)
		require.Equal(t, "superseded", history[0].Reason)
		require.Equal(t, 1, history[0].Version)

		// Events on the conversation: two created, two updated.
		events, err := b.store.ListEvents(b.ctx, b.t1.ID, c.ID, 0, 100)
		require.NoError(t, err)
		count := map[string]int{}
		for _, e := range events {
			count[e.Type]++
		}
		require.Equal(t, 2, count[parley.EventMemoryCreated])
		require.Equal(t, 2, count[parley.EventMemoryUpdated])

		// An edit and an erasure are news on the conversation too.
		_, err = b.store.EditMemory(b.ctx, b.t1.ID, h.ID, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Lyon"})
		require.NoError(t, err)
		require.NoError(t, b.store.DeleteMemory(b.ctx, b.t1.ID, h.ID))
		events, err = b.store.ListEvents(b.ctx, b.t1.ID, c.ID, events[len(events)-1].ID, 100)
		require.NoError(t, err)
		var later []string
		for _, e := range events {
			later = append(later, e.Type)
		}
		require.Equal(t, []string{parley.EventMemoryUpdated, parley.EventMemoryDeleted}, later)

		// Another conversation of the same user and bot shares them.
		other, _, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "ana", ExternalID: "chat-2"}})
		require.NoError(t, err)
		appendText(t, b, b.t1, other.ID, "I'm Ana")
		_, err = b.store.StoreMemories(b.ctx, b.t1.ID, other.ID, 1, []parley.Fact{confirm})
		require.NoError(t, err)
		m, err := b.store.GetMemory(b.ctx, b.t1.ID, n.ID)
		require.NoError(t, err)
		require.Equal(t, 3, m.Confirmations)
		require.Equal(t, other.ID, m.ConversationID, "provenance follows where it was last said")

		// Another tenant sees none of it.
		require.Empty(t, list(t, b, b.t2, parley.MemoryFilter{UserID: "ana"}))
		_, err = b.store.GetMemory(b.ctx, b.t2.ID, n.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.MemoryHistory(b.ctx, b.t2.ID, h.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.EditMemory(b.ctx, b.t2.ID, n.ID, name)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteMemory(b.ctx, b.t2.ID, n.ID)))
		_, err = b.store.StoreMemories(b.ctx, b.t2.ID, c.ID, 9, []parley.Fact{name})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.ClaimMemories(b.ctx, b.t2.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		// Erasing the user erases their memories.
		require.NoError(t, b.store.DeleteUser(b.ctx, b.t1.ID, "ana"))
		require.Empty(t, list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"}))
		_, err = b.store.GetMemory(b.ctx, b.t1.ID, n.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})

	t.Run("StoreMemoriesInOrder", func(t *testing.T) {
		// One job's facts apply in their order, a later one of a key to the
		// memory an earlier one made; a fact without a key gets its
		// normal key; the events go to the conversation's webhook.
		t.Parallel()
		b := s.setup(t)
		_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot", Webhook: "https://hooks.example/in"})
		require.NoError(t, err)
		c := conversation(t, b, b.t1, "bot", "ana")
		for _, text := range []string{"I live in Madrid", "I moved to Paris", "I like tea"} {
			appendText(t, b, b.t1, c.ID, text)
		}
		moved := parley.Fact{Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Paris", Confidence: 0.8, SourceSeqs: []int64{2}}
		tea := parley.Fact{Kind: parley.KindLike, Text: "Likes tea", Confidence: 0.7, SourceSeqs: []int64{3}}
		stored, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 3, []parley.Fact{home, moved, tea})
		require.NoError(t, err)
		require.Len(t, stored, 3)
		require.Equal(t, stored[0].ID, stored[1].ID, "the second fact of the key changed the memory the first made")
		require.Equal(t, 2, stored[1].Version)
		require.Equal(t, parley.NormalKey(tea.Kind, tea.Text), stored[2].Key)
		all := list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"})
		require.ElementsMatch(t, []string{"Lives in Paris", "Likes tea"}, texts(all))
		history, err := b.store.MemoryHistory(b.ctx, b.t1.ID, stored[0].ID)
		require.NoError(t, err)
		require.Len(t, history, 1)
		require.Equal(t, "Lives in Madrid", history[0].Text)

		deliveries, err := b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{ConversationID: c.ID, Limit: 20})
		require.NoError(t, err)
		count := map[string]int{}
		for _, d := range deliveries {
			count[d.EventType]++
		}
		require.Equal(t, 2, count[parley.EventMemoryCreated], "%v", count)
		require.Equal(t, 1, count[parley.EventMemoryUpdated], "%v", count)
	})

	t.Run("MemoryJobs", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		jobs := func() int { return s.h.Jobs(t, b.store, "memory", c.ID) }
		appendText(t, b, b.t1, c.ID, "one")
		require.Equal(t, 1, jobs(), "a user message queues a memory job")
		appendText(t, b, b.t1, c.ID, "two")
		_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: "h", Bubbles: []string{"h"}, NoReply: true})
		require.NoError(t, err)
		require.Equal(t, 1, jobs(), "the queued one reads what comes until it runs")
		claimed, err := b.store.ClaimMemories(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(0), claimed.MemoriesSeq)
		require.Equal(t, int64(3), claimed.MessageCount)
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "op", Bubbles: []string{"op"}})
		require.NoError(t, err)
		require.Equal(t, 1, jobs(), "a bot-side message is not the user's")
		appendText(t, b, b.t1, c.ID, "three")
		require.Equal(t, 2, jobs(), "after the claim, the next user message queues another")
	})

	t.Run("Vectors", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "ana")
		appendText(t, b, b.t1, c.ID, "I live in Madrid")
		vec := func(x float32) parley.Vector { return parley.Vector{Model: "m1", Values: []float32{x, -0.5, 1e-7}} }
		withVec := home
		withVec.Vector = vec(0.25)
		_, err := b.store.StoreMemories(b.ctx, b.t1.ID, c.ID, 1, []parley.Fact{withVec, name})
		require.NoError(t, err)
		byText := func() map[string]parley.Vector {
			out := map[string]parley.Vector{}
			for _, m := range list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"}) {
				got, err := b.store.GetMemory(b.ctx, b.t1.ID, m.ID)
				require.NoError(t, err)
				require.Equal(t, m.Vector, got.Vector)
				out[m.Text] = m.Vector
			}
			return out
		}
		require.Equal(t, map[string]parley.Vector{"Lives in Madrid": vec(0.25), "Name: Ana": {}}, byText(), "stored as given, none when none")

		m, _, err := b.store.AddMemory(b.ctx, b.t1.ID, "bot", "ana", parley.Fact{Kind: parley.KindLike, Text: "Likes jazz", Vector: vec(2)})
		require.NoError(t, err)
		require.Equal(t, vec(2), m.Vector)
		_, err = b.store.EditMemory(b.ctx, b.t1.ID, m.ID, parley.Fact{Kind: parley.KindLike, Text: "Likes soul", Vector: vec(3)})
		require.NoError(t, err)
		superseding := home
		superseding.Text, superseding.Vector = "Lives in Lisbon", vec(4)
		_, _, err = b.store.AddMemory(b.ctx, b.t1.ID, "bot", "ana", superseding)
		require.NoError(t, err)
		require.Equal(t, map[string]parley.Vector{"Lives in Lisbon": vec(4), "Name: Ana": {}, "Likes soul": vec(3)}, byText(),
			"an edit's and a superseding fact's vectors replace the old text's")

		// New vectors, each at the version its text was read at.
		ms := list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"})
		var sets []parley.MemoryVector
		for _, m := range ms {
			v := parley.MemoryVector{ID: m.ID, Version: m.Version, Vector: parley.Vector{Model: "m2", Values: []float32{9}}}
			if m.Text == "Likes soul" {
				v.Version-- // read before the edit: left alone
			}
			sets = append(sets, v)
		}
		require.NoError(t, b.store.SetMemoryVectors(b.ctx, b.t2.ID, sets), "another tenant's: nothing")
		require.Equal(t, map[string]parley.Vector{"Lives in Lisbon": vec(4), "Name: Ana": {}, "Likes soul": vec(3)}, byText())
		require.NoError(t, b.store.SetMemoryVectors(b.ctx, b.t1.ID, sets))
		m2 := parley.Vector{Model: "m2", Values: []float32{9}}
		require.Equal(t, map[string]parley.Vector{"Lives in Lisbon": m2, "Name: Ana": m2, "Likes soul": vec(3)}, byText())
		require.Equal(t, []string{"Likes soul"}, texts(list(t, b, b.t1, parley.MemoryFilter{UserID: "ana", StaleFor: "m2"})),
			"the memories without a vector of the model")
		require.NoError(t, b.store.SetMemoryVectors(b.ctx, b.t1.ID, nil))
		after := list(t, b, b.t1, parley.MemoryFilter{UserID: "ana"})
		for i := range after {
			after[i].Vector, ms[i].Vector = parley.Vector{}, parley.Vector{}
		}
		require.Equal(t, ms, after, "nothing but the vectors changed")
	})
	t.Run("ByHand", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		conversation(t, b, b.t1, "bot", "u")
		_, _, err := b.store.AddMemory(b.ctx, b.t1.ID, "nope", "u", name)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, "body.bot_id", fieldOf(err))
		_, _, err = b.store.AddMemory(b.ctx, b.t1.ID, "bot", "ghost", name)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, "path.id", fieldOf(err))
		_, _, err = b.store.AddMemory(b.ctx, b.t2.ID, "bot", "u", name)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's bot")

		m, change, err := b.store.AddMemory(b.ctx, b.t1.ID, "bot", "u", parley.Fact{Kind: parley.KindLike, Text: "Likes jazz", Confidence: 1})
		require.NoError(t, err)
		require.Equal(t, parley.MemoryCreate, change)
		require.Equal(t, "like:likes jazz", m.Key, "a fact without a key gets one from its text")
		_, change, err = b.store.AddMemory(b.ctx, b.t1.ID, "bot", "u", parley.Fact{Kind: parley.KindLike, Text: "likes  JAZZ", Confidence: 1})
		require.NoError(t, err)
		require.Equal(t, parley.MemoryConfirm, change)
		_, _, err = b.store.AddMemory(b.ctx, b.t1.ID, "bot", "u", home)
		require.NoError(t, err)

		edited, err := b.store.EditMemory(b.ctx, b.t1.ID, m.ID, parley.Fact{Kind: parley.KindLike, Text: "Likes jazz and soul"})
		require.NoError(t, err)
		require.Equal(t, 2, edited.Version)
		history, err := b.store.MemoryHistory(b.ctx, b.t1.ID, m.ID)
		require.NoError(t, err)
		require.Equal(t, "edited", history[0].Reason)
		require.Equal(t, "Likes jazz", history[0].Text)

		require.Equal(t, []string{"Likes jazz and soul"}, texts(list(t, b, b.t1, parley.MemoryFilter{UserID: "u", Search: "SOUL"})))
		require.Equal(t, []string{"Lives in Madrid"}, texts(list(t, b, b.t1, parley.MemoryFilter{UserID: "u", Kind: parley.KindPlace})))
		require.Empty(t, list(t, b, b.t1, parley.MemoryFilter{UserID: "u", Search: "100%"}), "wildcards are literal")
		first := list(t, b, b.t1, parley.MemoryFilter{UserID: "u", Limit: 1})
		require.Len(t, first, 1)
		rest := list(t, b, b.t1, parley.MemoryFilter{UserID: "u", BeforeID: first[0].ID})
		require.Len(t, rest, 1, "pages by id")
		require.Empty(t, list(t, b, b.t1, parley.MemoryFilter{UserID: "u", BotID: "other-bot"}))

		require.NoError(t, b.store.DeleteMemory(b.ctx, b.t1.ID, m.ID))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteMemory(b.ctx, b.t1.ID, m.ID)))
		_, err = b.store.MemoryHistory(b.ctx, b.t1.ID, m.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}
