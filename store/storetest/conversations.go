package storetest

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) conversations(t *testing.T) {
	t.Run("GetOrCreateConversation", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot-456", Language: "fr"})
		require.NoError(t, err)
		key := parley.ConversationKey{BotID: "bot-456", UserID: "user-789"}

		_, _, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{ConversationKey: key})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "unknown user without create_user_if_not_exists")
		require.Equal(t, "body.user_id", fieldOf(err))
		_, _, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "nope", UserID: "u"}, CreateUser: true})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, "body.bot_id", fieldOf(err))
		_, err = b.store.GetUser(b.ctx, b.t1.ID, "u")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "a failed create writes nothing")

		// Concurrent calls for one pair create exactly one conversation.
		var wg sync.WaitGroup
		ids := make([]string, 16)
		createdCount := make([]bool, 16)
		errs := make([]error, 16)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, created, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
					ConversationKey: key, CreateUser: true, Webhook: "https://example.com/h", Platform: "Qkkie"})
				errs[i] = err
				if err == nil {
					ids[i], createdCount[i] = c.ID, created
				}
			}()
		}
		wg.Wait()
		n := 0
		for i := range ids {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i])
			if createdCount[i] {
				n++
			}
		}
		require.Equal(t, 1, n, "exactly one call created it")

		c, err := b.store.GetConversation(b.ctx, b.t1.ID, ids[0])
		require.NoError(t, err)
		require.Equal(t, "https://example.com/h", c.Webhook)
		require.Equal(t, "Qkkie", c.Platform)
		require.Equal(t, "fr", c.Language, "the bot's language is the default")
		require.Equal(t, int64(0), c.MessageCount)
		require.Nil(t, c.LastMessageAt)

		_, err = b.store.GetConversation(b.ctx, b.t2.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant cannot see it")
		_, err = b.store.UpdateConversation(b.ctx, b.t2.ID, c.ID, "https://evil.example", "", "")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

		u, err := b.store.UpdateConversation(b.ctx, b.t1.ID, c.ID, "https://example.com/new", "", "es")
		require.NoError(t, err)
		require.Equal(t, "https://example.com/new", u.Webhook)
		require.Equal(t, "Qkkie", u.Platform, "empty values leave fields alone")
		require.Equal(t, "es", u.Language)

		v1, created, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot-456", UserID: "user-789", ExternalID: "chat-123"}})
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, c.ID, v1.ID, "a V1 conversation id is a conversation of its own")
		require.Equal(t, "chat-123", v1.ExternalID)

		// Found again: the same conversation, not created.
		again, created, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{ConversationKey: key})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, c.ID, again.ID)
		require.Equal(t, "https://example.com/new", again.Webhook)
		again, created, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot-456", UserID: "user-789", ExternalID: "chat-123"}})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, v1.ID, again.ID)
		// A V1 conversation id names one user's conversation.
		_, _, err = b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot-456", UserID: "someone-else", ExternalID: "chat-123"}, CreateUser: true})
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		require.Equal(t, "body.user_id", fieldOf(err))
		// Another tenant's same names are another conversation.
		_, err = b.store.CreateBot(b.ctx, b.t2.ID, &parley.Bot{ID: "bot-456"})
		require.NoError(t, err)
		theirs, created, err := b.store.GetOrCreateConversation(b.ctx, b.t2.ID, parley.NewConversation{ConversationKey: key, CreateUser: true})
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, c.ID, theirs.ID)
	})
	t.Run("AppendMessage", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		media := []parley.Media{{URL: "https://example.com/a.png", MediaType: "image/png"}, {ContentID: "c-1"}}
		res, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: "Hello", Bubbles: []string{"Hello"},
			AttachedMedia: media, Metadata: []byte(`{"k":1}`)})
		require.NoError(t, err)
		require.False(t, res.Replayed)
		require.Equal(t, int64(1), res.Message.Seq)
		require.Equal(t, media, res.Message.AttachedMedia)

		// Concurrent appends: sequence numbers 2..41 with no gap and no duplicate.
		var wg sync.WaitGroup
		seqs := make([]int64, 40)
		for i := range seqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{Text: fmt.Sprint(i), FromBot: i%2 == 0})
				if err == nil {
					seqs[i] = r.Message.Seq
				}
			}()
		}
		wg.Wait()
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for i, s := range seqs {
			require.Equal(t, int64(i+2), s)
		}
		got, err := b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(41), got.MessageCount)
		require.NotNil(t, got.LastMessageAt)

		first, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 1})
		require.NoError(t, err)
		require.Equal(t, *res.Message, first[0], "what is read back is what was answered")

		_, err = b.store.AppendMessage(b.ctx, b.t2.ID, c.ID, parley.NewMessage{Text: "intruder"})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant cannot append")
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, parley.NewID(), parley.NewMessage{Text: "x"})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		got, err = b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(41), got.MessageCount, "failed appends store nothing")
	})
	t.Run("GroupCommit", func(t *testing.T) {
		// Appends that come together are committed together: among them,
		// ones that fail (a conversation missing or another tenant's) and
		// retries with an idempotency key fail or replay alone, and every
		// other append is stored once, in a gap-free sequence.
		t.Parallel()
		b := s.setup(t)
		convs := make([]*parley.Conversation, 12)
		for i := range convs {
			convs[i] = conversation(t, b, b.t1, "bot-1", fmt.Sprintf("group-%d", i))
		}
		foreign := conversation(t, b, b.t2, "bot-1", "group-foreign")
		const writers, each = 24, 20
		type outcome struct {
			conv     string
			seq      int64
			err      error
			replayed bool
			want     string // what the append was: ok, missing, foreign, retry
		}
		out := make([][]outcome, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					c := convs[(w*7+i)%len(convs)]
					o := outcome{conv: c.ID, want: "ok"}
					nm := parley.NewMessage{Text: fmt.Sprintf("w%d-%d", w, i), FromBot: true}
					tenant, conv := b.t1.ID, c.ID
					switch (w + i) % 10 {
					case 3:
						o.want, conv = "missing", parley.NewID()
					case 6:
						o.want, conv, tenant = "foreign", foreign.ID, b.t1.ID // t1 asking for t2's
					case 8:
						o.want = "retry" // the same key twice: once stored, once replayed
						nm.IdempotencyKey, nm.RequestHash = fmt.Sprintf("k-%d-%d", w, i), "h"
						if r, err := b.store.AppendMessage(b.ctx, tenant, conv, nm); err == nil {
							o.seq = r.Message.Seq
						} else {
							o.err = err
						}
						out[w] = append(out[w], o)
						o = outcome{conv: c.ID, want: "replay"}
					}
					r, err := b.store.AppendMessage(b.ctx, tenant, conv, nm)
					o.err = err
					if err == nil {
						o.seq, o.replayed = r.Message.Seq, r.Replayed
					}
					out[w] = append(out[w], o)
				}
			}()
		}
		wg.Wait()
		seqs := map[string][]int64{}
		for _, os := range out {
			for _, o := range os {
				switch o.want {
				case "missing", "foreign":
					require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(o.err), "%+v", o)
				case "replay":
					require.NoError(t, o.err)
					require.True(t, o.replayed)
				default:
					require.NoError(t, o.err)
					require.False(t, o.replayed)
					seqs[o.conv] = append(seqs[o.conv], o.seq)
				}
			}
		}
		for _, c := range convs {
			got := seqs[c.ID]
			slices.Sort(got)
			for i, s := range got {
				require.Equal(t, int64(i+1), s, "conversation %s: gap-free, no duplicate", c.ID)
			}
			stored, err := b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
			require.NoError(t, err)
			require.Equal(t, int64(len(got)), stored.MessageCount, "what was acknowledged is what is stored")
		}
		f, err := b.store.GetConversation(b.ctx, b.t2.ID, foreign.ID)
		require.NoError(t, err)
		require.Zero(t, f.MessageCount, "nothing reached the other tenant's conversation")
	})
	t.Run("HistoryDigest", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		stored, d, err := b.store.HistoryDigest(b.ctx, b.t1.ID, c.ID, 3)
		require.NoError(t, err)
		require.Equal(t, int64(0), stored)
		require.Equal(t, parley.ChainStart, d, "an empty history")

		msgs := []parley.NewMessage{
			{Text: "Hi", Bubbles: []string{" Hi "}},
			{FromBot: true, Text: "Hello!\n\nHow can I help?", Bubbles: []string{"Hello!", "", "How can I help?"}},
			{FromBot: true, Text: "history only", NoReply: true},
			{Text: "A pizza"},
		}
		want := [][]byte{parley.ChainStart}
		for _, m := range msgs {
			_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, m)
			require.NoError(t, err)
			want = append(want, parley.ChainDigest(want[len(want)-1], m.FromBot, parley.Canonical(m.Bubbles, m.Text)))
		}
		for seq := range int64(7) {
			stored, d, err := b.store.HistoryDigest(b.ctx, b.t1.ID, c.ID, seq)
			require.NoError(t, err)
			require.Equal(t, int64(4), stored)
			require.Equal(t, want[min(seq, 4)], d, "the digest up to message %d", seq)
		}
		require.NotEqual(t, want[3], want[4])

		_, _, err = b.store.HistoryDigest(b.ctx, b.t2.ID, c.ID, 1)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's conversation")
	})
	t.Run("Idempotency", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		nm := parley.NewMessage{Text: "once", IdempotencyKey: "k-1", RequestHash: "h-1"}
		var wg sync.WaitGroup
		results := make([]parley.AppendResult, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, nm)
				if err == nil {
					results[i] = r
				}
			}()
		}
		wg.Wait()
		replays := 0
		for _, r := range results {
			require.NotNil(t, r.Message)
			require.Equal(t, results[0].Message.ID, r.Message.ID)
			if r.Replayed {
				replays++
			}
		}
		require.Equal(t, 7, replays, "one stored, seven replayed")

		nm.RequestHash = "h-2"
		_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, nm)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "the same key for a different request")

		other := conversation(t, b, b.t1, "bot-1", "user-2")
		nm.RequestHash = "h-1"
		r, err := b.store.AppendMessage(b.ctx, b.t1.ID, other.ID, nm)
		require.NoError(t, err)
		require.False(t, r.Replayed, "keys are per conversation")

		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 50})
		require.NoError(t, err)
		require.Len(t, msgs, 1)

		// A key stored without a request hash (a caller that sends none) is
		// replayed for the same caller, and a conflict once a hash differs:
		// no hash stored and an empty one are the same.
		bare := parley.NewMessage{Text: "bare", Bubbles: []string{"bare"}, IdempotencyKey: "bare-key"}
		first, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, bare)
		require.NoError(t, err)
		require.False(t, first.Replayed)
		again, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, bare)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.Message.ID, again.Message.ID)
		bare.RequestHash = "h-9"
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, bare)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		require.Equal(t, "header.Idempotency-Key", fieldOf(err))
	})
	t.Run("HistoryDates", func(t *testing.T) {
		// A history-only message may keep the date it was said (imports);
		// any other message is stored as of now, and so is a date to come.
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot", "u")
		said := time.Date(2023, 5, 8, 13, 56, 0, 0, time.UTC)
		for _, m := range []parley.NewMessage{
			{Text: "old", Bubbles: []string{"old"}, NoReply: true, At: said},
			{FromBot: true, Text: "old reply", Bubbles: []string{"old reply"}, NoReply: true, At: said.Add(time.Minute)},
			{Text: "live", Bubbles: []string{"live"}, At: said},
			{Text: "future", Bubbles: []string{"future"}, NoReply: true, At: time.Now().Add(time.Hour)},
		} {
			_, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, m)
			require.NoError(t, err)
		}
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.NoError(t, err)
		require.True(t, msgs[0].CreatedAt.Equal(said), "%v", msgs[0].CreatedAt)
		require.True(t, msgs[1].CreatedAt.Equal(said.Add(time.Minute)))
		require.WithinDuration(t, time.Now(), msgs[2].CreatedAt, time.Minute, "a message that is not history is now")
		require.WithinDuration(t, time.Now(), msgs[3].CreatedAt, time.Minute, "no date to come")
	})
	t.Run("ListMessages", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		for i := 1; i <= 25; i++ {
			appendText(t, b, b.t1, c.ID, fmt.Sprintf("m%d", i))
		}
		cases := []struct {
			name string
			q    parley.HistoryQuery
			want []int64
		}{
			{"first page", parley.HistoryQuery{Limit: 3}, []int64{1, 2, 3}},
			{"after", parley.HistoryQuery{Limit: 3, AfterSeq: 22}, []int64{23, 24, 25}},
			{"past the end", parley.HistoryQuery{Limit: 3, AfterSeq: 25}, []int64{}},
			{"newest first", parley.HistoryQuery{Limit: 2, Order: parley.Descending}, []int64{25, 24}},
			{"before, descending", parley.HistoryQuery{Limit: 3, Order: parley.Descending, BeforeSeq: 3}, []int64{2, 1}},
			{"window", parley.HistoryQuery{Limit: 10, AfterSeq: 10, BeforeSeq: 13}, []int64{11, 12}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, tc.q)
				require.NoError(t, err)
				got := []int64{}
				for _, m := range msgs {
					got = append(got, m.Seq)
					require.Equal(t, fmt.Sprintf("m%d", m.Seq), m.Text)
				}
				require.Equal(t, tc.want, got)
			})
		}
		_, err := b.store.ListMessages(b.ctx, b.t2.ID, c.ID, parley.HistoryQuery{Limit: 3})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		empty := conversation(t, b, b.t1, "bot-1", "user-2")
		msgs, err := b.store.ListMessages(b.ctx, b.t1.ID, empty.ID, parley.HistoryQuery{Limit: 3})
		require.NoError(t, err)
		require.Empty(t, msgs)
	})
	t.Run("MessageContent", func(t *testing.T) {
		// Each store keeps the commonest content compactly (one bubble that
		// is the text, no media) and every read rebuilds it: each read of
		// a message gives what its append answered, whatever its shape.
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		shapes := []parley.NewMessage{
			{Text: "zebra one bubble", Bubbles: []string{"zebra one bubble"}},
			{FromBot: true, Text: "zebra two\n\nbubbles", Bubbles: []string{"zebra two", "bubbles"}},
			{Text: "zebra padded", Bubbles: []string{" zebra padded "}},
			{Text: "zebra no bubbles given"},
			{FromBot: true, Text: "zebra empty bubble", Bubbles: []string{""}},
			{Text: "zebra with media", AttachedMedia: []parley.Media{{ContentID: "c-1"}}, Metadata: []byte(`{"k": [1, 2]}`)},
			{Text: "zebra keyed", Bubbles: []string{"zebra keyed"}, IdempotencyKey: "k-1", RequestHash: "h-1", Metadata: []byte(`{"k":3}`)},
		}
		var want []parley.Message
		var seqs []int64
		for _, nm := range shapes {
			res, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, nm)
			require.NoError(t, err)
			want = append(want, *res.Message)
			seqs = append(seqs, res.Message.Seq)
		}
		page, err := b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 50})
		require.NoError(t, err)
		require.Equal(t, want, page, "a page")
		at, err := b.store.MessagesAt(b.ctx, b.t1.ID, c.ID, seqs)
		require.NoError(t, err)
		require.Equal(t, want, at, "messages by seq")
		var found []parley.Message
		require.Eventually(t, func() bool {
			found, err = b.store.SearchMessages(b.ctx, b.t1.ID, c.ID, []string{"zebra"}, 0, 50, 0)
			require.NoError(t, err)
			return len(found) == len(want)
		}, 5*time.Second, 10*time.Millisecond, "the index catches up")
		slices.Reverse(found)
		require.Equal(t, want, found, "search results, newest first")
		again, err := b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, shapes[len(shapes)-1])
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, want[len(want)-1], *again.Message, "an idempotent replay")
	})
	t.Run("MessagesAt", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		for i := 1; i <= 6; i++ {
			appendText(t, b, b.t1, c.ID, fmt.Sprintf("m%d", i))
		}
		seqs := func(ms []parley.Message) []int64 {
			out := []int64{}
			for _, m := range ms {
				require.Equal(t, fmt.Sprintf("m%d", m.Seq), m.Text)
				out = append(out, m.Seq)
			}
			return out
		}
		got, err := b.store.MessagesAt(b.ctx, b.t1.ID, c.ID, []int64{5, 0, 2, 9, 2, -1, 6})
		require.NoError(t, err)
		require.Equal(t, []int64{2, 5, 6}, seqs(got), "in seq order, once each, unknown seqs left out")
		got, err = b.store.MessagesAt(b.ctx, b.t2.ID, c.ID, []int64{1, 2})
		require.NoError(t, err)
		require.Empty(t, got, "another tenant's conversation")
		got, err = b.store.MessagesAt(b.ctx, b.t1.ID, c.ID, nil)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("SearchMessages", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		c := conversation(t, b, b.t1, "bot-1", "user-1")
		texts := []string{"my dog Rufo", "pizza tonight", "the dogs barked", "a dog and a pizza", "weather", "dog days"}
		for _, text := range texts {
			appendText(t, b, b.t1, c.ID, text)
		}
		other := conversation(t, b, b.t1, "bot-1", "user-2")
		appendText(t, b, b.t1, other.ID, "dog pizza dog")
		theirs := conversation(t, b, b.t2, "bot-1", "user-1")
		appendText(t, b, b.t2, theirs.ID, "dog pizza dog")
		searchAround := func(tenantID string, terms []string, before int64, perTerm, around int) []int64 {
			got, err := b.store.SearchMessages(b.ctx, tenantID, c.ID, terms, before, perTerm, around)
			require.NoError(t, err)
			out := []int64{}
			for _, m := range got {
				require.Equal(t, texts[m.Seq-1], m.Text)
				out = append(out, m.Seq)
			}
			require.True(t, slices.IsSortedFunc(out, func(a, b int64) int { return int(b - a) }), "newest first")
			slices.Sort(out)
			require.Equal(t, slices.Compact(slices.Clone(out)), out, "each once")
			return out
		}
		search := func(tenantID string, terms []string, before int64, perTerm int) []int64 {
			return searchAround(tenantID, terms, before, perTerm, 0)
		}
		// The SQLite index catches up in the background, in batches of
		// messages in the order they were stored: wait for the last of
		// this conversation's (a batch may end before it).
		require.Eventually(t, func() bool { return len(search(b.t1.ID, []string{"days"}, 0, 5)) == 1 }, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, []int64{1, 3, 4, 6}, search(b.t1.ID, []string{"dogs"}, 0, 10), "stems match; only this conversation's")
		require.Equal(t, []int64{4, 6}, search(b.t1.ID, []string{"dog"}, 0, 2), "the newest perTerm of a term")
		require.Equal(t, []int64{2, 4, 6}, search(b.t1.ID, []string{"dog", "pizza"}, 0, 2), "perTerm for each term")
		require.Equal(t, []int64{1, 2, 3, 4}, search(b.t1.ID, []string{"dog", "pizza"}, 5, 10), "below beforeSeq")
		require.Equal(t, []int64{}, search(b.t1.ID, []string{"cat", `"(*`}, 0, 10))
		require.Equal(t, []int64{}, search(b.t2.ID, []string{"dog"}, 0, 10), "another tenant's conversation")
		require.Equal(t, []int64{1, 2, 4, 5, 6}, searchAround(b.t1.ID, []string{"rufo", "weather"}, 0, 10, 1), "with the neighbours either side")
		require.Equal(t, []int64{1, 2, 3, 4}, searchAround(b.t1.ID, []string{"rufo", "weather"}, 5, 10, 3), "below beforeSeq, neighbours too")
		require.Equal(t, []int64{}, searchAround(b.t2.ID, []string{"rufo"}, 0, 10, 1))
	})
	t.Run("ListConversations", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		var convs []*parley.Conversation
		for i := range 5 {
			c := conversation(t, b, b.t1, fmt.Sprintf("bot-%d", i%2), fmt.Sprintf("user-%d", i))
			convs = append(convs, c)
		}
		_, err := b.store.UpdateConversation(b.ctx, b.t1.ID, convs[3].ID, "", "Qkkie", "es")
		require.NoError(t, err)
		conversation(t, b, b.t2, "bot-0", "user-0") // another tenant's

		all, err := b.store.ListConversations(b.ctx, b.t1.ID, parley.ConversationFilter{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []string{convs[4].ID, convs[3].ID, convs[2].ID, convs[1].ID, convs[0].ID}, convIDs(all),
			"newest first, only this tenant's")

		page, err := b.store.ListConversations(b.ctx, b.t1.ID, parley.ConversationFilter{Limit: 2, BeforeID: convs[3].ID})
		require.NoError(t, err)
		require.Equal(t, []string{convs[2].ID, convs[1].ID}, convIDs(page))

		cases := []struct {
			name string
			f    parley.ConversationFilter
			want []string
		}{
			{"bot", parley.ConversationFilter{BotID: "bot-1"}, []string{convs[3].ID, convs[1].ID}},
			{"user", parley.ConversationFilter{UserID: "user-2"}, []string{convs[2].ID}},
			{"platform", parley.ConversationFilter{Platform: "Qkkie"}, []string{convs[3].ID}},
			{"language", parley.ConversationFilter{Language: "es", BotID: "bot-0"}, []string{}},
			{"created after", parley.ConversationFilter{CreatedAfter: convs[3].CreatedAt}, []string{convs[4].ID}},
			{"updated after", parley.ConversationFilter{UpdatedAfter: convs[4].CreatedAt}, []string{convs[3].ID}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tc.f.Limit = 10
				got, err := b.store.ListConversations(b.ctx, b.t1.ID, tc.f)
				require.NoError(t, err)
				require.Equal(t, tc.want, convIDs(got))
			})
		}
	})
	t.Run("Search", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		pizza := conversation(t, b, b.t1, "bot-1", "user-1")
		appendText(t, b, b.t1, pizza.ID, "I would like to order a pizza with olives")
		sushi := conversation(t, b, b.t1, "bot-1", "user-2")
		appendText(t, b, b.t1, sushi.ID, "Do you deliver sushi on Sundays?")
		theirs := conversation(t, b, b.t2, "bot-1", "user-1")
		appendText(t, b, b.t2, theirs.ID, "pizza pizza pizza")

		search := func(q string, f parley.ConversationFilter) []string {
			f.Query, f.Limit = q, 10
			got, err := b.store.ListConversations(b.ctx, b.t1.ID, f)
			require.NoError(t, err)
			return convIDs(got)
		}
		// The SQLite index catches up in the background, in batches: wait
		// until it has both messages (one batch may hold only the first).
		require.Eventually(t, func() bool {
			return len(search("pizza", parley.ConversationFilter{})) == 1 && len(search("sushi", parley.ConversationFilter{})) == 1
		}, 5*time.Second, 10*time.Millisecond)
		cases := []struct {
			q    string
			want []string
		}{
			{"pizza", []string{pizza.ID}},
			{"PIZZA olives", []string{pizza.ID}},
			{"olives sushi", []string{}},
			{"deliver", []string{sushi.ID}},
			{"sund", []string{sushi.ID}}, // the last word matches as a prefix
			{`"pizza" OR NEAR(sushi) -*`, []string{}},
			{"((( ***", []string{}},
		}
		for _, tc := range cases {
			require.Equal(t, tc.want, search(tc.q, parley.ConversationFilter{}), "q=%q", tc.q)
		}
		require.Equal(t, []string{}, search("pizza", parley.ConversationFilter{UserID: "user-2"}), "filters combine")
	})
}
