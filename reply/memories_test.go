package reply_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/reply"
)

// TestReplyUsesMemories: a reply's context carries the user's memories,
// the one about the turn first, and its stored context shows them.
func TestReplyUsesMemories(t *testing.T) {
	t.Parallel()
	engines(t, openai, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, parley.Bot{ID: "bot", Reply: parley.ReplySettings{DebounceMS: ms(0)}})
		ids := map[string]string{}
		for _, f := range []parley.Fact{{Kind: parley.KindName, Key: "name", Text: "Name: Ana"},
			{Kind: parley.KindPet, Key: "pet:dog", Text: "Pet dog: Rufo"}, {Kind: parley.KindLike, Text: "Likes jazz"}} {
			m, _, err := b.st.AddMemory(b.ctx, b.tenant, "bot", "u", f)
			require.NoError(t, err)
			ids[m.Text] = m.ID
		}
		require.NoError(t, b.say(t, conv, "Any tips for walking Rufo?", false))
		replies, _ := b.replies(t, conv, 1)
		reqs := b.llm.Requests()
		require.NotEmpty(t, reqs)
		system := reqs[0].Messages[0].Content
		require.Contains(t, system, "What you remember about the user:\n- Pet dog: Rufo\n- Name: Ana")
		require.Contains(t, system, "Likes jazz")

		stored, err := b.st.ReplyContext(b.ctx, b.tenant, conv, replies[0].Seq)
		require.NoError(t, err)
		var c struct {
			Parts []reply.Part `json:"parts"`
		}
		require.NoError(t, json.Unmarshal(stored, &c))
		i := slices.IndexFunc(c.Parts, func(p reply.Part) bool { return p.Name == "memories" })
		require.GreaterOrEqual(t, i, 0, "parts: %+v", c.Parts)
		require.Equal(t, []string{ids["Pet dog: Rufo"], ids["Name: Ana"], ids["Likes jazz"]}, c.Parts[i].IDs)
	})
}
