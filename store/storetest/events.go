package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) events(t *testing.T) {
	t.Run("ListEvents", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		user := appendText(t, b, b.t1, c.ID, "hello")
		_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "operator", Bubbles: []string{"operator"}})
		require.NoError(t, err)
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "old", Bubbles: []string{"old"}, NoReply: true})
		require.NoError(t, err)
		reply, err := b.store.StoreReply(b.ctx, b.t1.ID, c.ID, parley.Reply{UptoSeq: user.Seq,
			Message: parley.NewMessage{FromBot: true, Text: "hi", Bubbles: []string{"hi"}}})
		require.NoError(t, err)

		events, err := b.store.ListEvents(b.ctx, b.t1.ID, c.ID, 0, 100)
		require.NoError(t, err)
		var types []string
		var seqs []int64
		for i, e := range events {
			require.Equal(t, c.ID, e.ConversationID)
			if i > 0 {
				require.Greater(t, e.ID, events[i-1].ID, "ids increase")
			}
			types = append(types, e.Type)
			if e.Type == parley.EventMessageCreated {
				var m parley.Message
				require.NoError(t, json.Unmarshal(e.Data, &m))
				seqs = append(seqs, m.Seq)
			}
		}
		require.Equal(t, []string{parley.EventConversationCreated, parley.EventMessageCreated, parley.EventMessageCreated}, types,
			"a user message is no event of its own (its reply is), nor is history a client sent")
		require.Equal(t, []int64{2, reply.Seq}, seqs)

		page, err := b.store.ListEvents(b.ctx, b.t1.ID, c.ID, events[0].ID, 1)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, events[1].ID, page[0].ID, "resumes after an id")
		other, err := b.store.ListEvents(b.ctx, b.t2.ID, c.ID, 0, 100)
		require.NoError(t, err)
		require.Empty(t, other, "another tenant sees none")
		require.NoError(t, b.store.PublishDelta(b.ctx, parley.Delta{ConversationID: c.ID, UptoSeq: 1, Text: "par"}),
			"deltas without subscribers go nowhere")
	})
}
