package reply_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm/llmtest"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/reply"
)

// TestReplyUsesMemories: a reply's context carries the user's memories,
// the one about the turn first, and its stored context shows them.
func TestReplyUsesMemories(t *testing.T) {
	t.Parallel()
	withMemories := func(st reply.Store, srv *llmtest.Server) *reply.Worker {
		w := openai(st, srv)
		w.Memories = memory.Recall{Store: st.(memory.Store)}
		return w
	}
	engines(t, withMemories, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		for _, f := range []parley.Fact{{Kind: parley.KindName, Key: "name", Text: "Name: Ana"},
			{Kind: parley.KindPet, Key: "pet:dog", Text: "Pet dog: Rufo"}, {Kind: parley.KindLike, Text: "Likes jazz"}} {
			_, _, err := b.st.AddMemory(b.ctx, b.tenant, "bot", "u", f)
			require.NoError(t, err)
		}
		require.NoError(t, b.say(t, conv, "Any tips for walking Rufo?", false))
		b.replies(t, conv, 1)
		reqs := b.llm.Requests()
		require.NotEmpty(t, reqs)
		system := reqs[0].Messages[0].Content
		require.Contains(t, system, "What you remember about the user:\n- Pet dog: Rufo\n- Name: Ana")
		require.Contains(t, system, "Likes jazz")
	})
}
