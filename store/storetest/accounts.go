package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) accounts(t *testing.T) {
	t.Run("Tenants", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		again, err := b.store.EnsureTenant(b.ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, b.t1.ID, again.ID, "EnsureTenant is get-or-create")
		require.NotEqual(t, b.t1.ID, b.t2.ID)
	})
	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		secret, hash := parley.NewToken()
		tok, err := b.store.CreateToken(b.ctx, b.t1.ID, "ci", true, hash)
		require.NoError(t, err)
		p, err := b.store.Authenticate(b.ctx, parley.HashToken(secret))
		require.NoError(t, err)
		require.Equal(t, parley.Principal{TenantID: b.t1.ID, TokenID: tok.ID, Admin: true}, *p)

		again, err := b.store.CreateToken(b.ctx, b.t1.ID, "ci", true, hash)
		require.NoError(t, err)
		require.Equal(t, tok.ID, again.ID, "the same hash is the same token")

		_, err = b.store.Authenticate(b.ctx, parley.HashToken("prly_wrong"))
		require.Equal(t, parley.EUNAUTHORIZED, parley.ErrorCode(err))

		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteToken(b.ctx, b.t2.ID, tok.ID)),
			"another tenant cannot revoke it")
		list, err := b.store.ListTokens(b.ctx, b.t2.ID)
		require.NoError(t, err)
		require.Empty(t, list)
		list, err = b.store.ListTokens(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)

		require.NoError(t, b.store.DeleteToken(b.ctx, b.t1.ID, tok.ID))
		_, err = b.store.Authenticate(b.ctx, hash)
		require.Equal(t, parley.EUNAUTHORIZED, parley.ErrorCode(err), "a revoked token no longer authenticates")
	})
	t.Run("Bots", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		temp := 0.3
		in := &parley.Bot{ID: "bot-456", Name: "Helper", Persona: "You are kind.", Language: "es",
			Webhook: "https://example.com/hook", Model: parley.ModelSettings{Model: "m", Temperature: &temp, ContextTokens: 4000}}
		created, err := b.store.CreateBot(b.ctx, b.t1.ID, in)
		require.NoError(t, err)
		require.Equal(t, in.Model, created.Model)
		require.Equal(t, created.CreatedAt, created.UpdatedAt)

		_, err = b.store.CreateBot(b.ctx, b.t1.ID, in)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		_, err = b.store.CreateBot(b.ctx, b.t2.ID, in)
		require.NoError(t, err, "bot ids are per tenant")

		got, err := b.store.GetBot(b.ctx, b.t1.ID, "bot-456")
		require.NoError(t, err)
		require.Equal(t, created, got)

		name := "Renamed"
		updated, err := b.store.UpdateBot(b.ctx, b.t1.ID, "bot-456", parley.BotPatch{Name: &name})
		require.NoError(t, err)
		require.Equal(t, "Renamed", updated.Name)
		require.Equal(t, "You are kind.", updated.Persona, "unpatched fields stay")
		other, err := b.store.GetBot(b.ctx, b.t2.ID, "bot-456")
		require.NoError(t, err)
		require.Equal(t, "Helper", other.Name, "the other tenant's bot is untouched")

		for _, id := range []string{"bot-a", "bot-b", "bot-c"} {
			_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: id})
			require.NoError(t, err)
		}
		page, err := b.store.ListBots(b.ctx, b.t1.ID, "", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"bot-456", "bot-a"}, botIDs(page))
		page, err = b.store.ListBots(b.ctx, b.t1.ID, "bot-a", 10)
		require.NoError(t, err)
		require.Equal(t, []string{"bot-b", "bot-c"}, botIDs(page))

		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteBot(b.ctx, b.t1.ID, "nope")))
		require.NoError(t, b.store.DeleteBot(b.ctx, b.t1.ID, "bot-456"))
		_, err = b.store.GetBot(b.ctx, b.t1.ID, "bot-456")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.GetBot(b.ctx, b.t2.ID, "bot-456")
		require.NoError(t, err, "deleting one tenant's bot leaves the other's")
	})
	t.Run("Users", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		u, created, err := b.store.PutUser(b.ctx, b.t1.ID, &parley.User{ID: "user-789", Platform: "Qkkie",
			KV: map[string]any{"plan": "gold", "age": float64(30)}})
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, map[string]any{"plan": "gold", "age": float64(30)}, u.KV)
		_, created, err = b.store.PutUser(b.ctx, b.t1.ID, &parley.User{ID: "user-789", Platform: "Qkkie"})
		require.NoError(t, err)
		require.False(t, created)

		lang := "es"
		u, err = b.store.PatchUser(b.ctx, b.t1.ID, "user-789", parley.UserPatch{Language: &lang,
			KV: map[string]any{"plan": "silver", "city": "Lima"}})
		require.NoError(t, err)
		require.Equal(t, "es", u.Language)
		require.Equal(t, "Qkkie", u.Platform)
		require.Equal(t, map[string]any{"plan": "silver", "city": "Lima"}, u.KV)
		u, err = b.store.PatchUser(b.ctx, b.t1.ID, "user-789", parley.UserPatch{KV: map[string]any{"city": nil}})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"plan": "silver"}, u.KV, "a null value removes the key")

		_, err = b.store.GetUser(b.ctx, b.t2.ID, "user-789")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.PatchUser(b.ctx, b.t2.ID, "user-789", parley.UserPatch{Language: &lang})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.DeleteUser(b.ctx, b.t2.ID, "user-789")))

		c := conversation(t, b, b.t1, "bot-1", "user-789")
		appendText(t, b, b.t1, c.ID, "erase me")
		require.NoError(t, b.store.DeleteUser(b.ctx, b.t1.ID, "user-789"))
		_, err = b.store.GetConversation(b.ctx, b.t1.ID, c.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "erasing a user erases their conversations")
		_, err = b.store.ListMessages(b.ctx, b.t1.ID, c.ID, parley.HistoryQuery{Limit: 10})
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

func (s *suite) audit(t *testing.T) {
	t.Run("RecordAudit", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		first, err := b.store.RecordAudit(b.ctx, b.t1.ID, parley.AuditEntry{Action: parley.AuditUserExport, Subject: "ana",
			TokenID: "tok-1", Counts: map[string]int64{"messages": 3}})
		require.NoError(t, err)
		require.NotEmpty(t, first.ID)
		require.False(t, first.CreatedAt.IsZero())
		second, err := b.store.RecordAudit(b.ctx, b.t1.ID, parley.AuditEntry{Action: parley.AuditUserErase, Subject: "ana", TokenID: "tok-1"})
		require.NoError(t, err)
		_, err = b.store.RecordAudit(b.ctx, b.t2.ID, parley.AuditEntry{Action: parley.AuditUserErase, Subject: "bob", TokenID: "tok-9"})
		require.NoError(t, err)

		got, err := b.store.ListAudit(b.ctx, b.t1.ID, "", 10)
		require.NoError(t, err)
		require.Len(t, got, 2, "the tenant's own")
		require.Equal(t, second.ID, got[0].ID, "newest first")
		require.Equal(t, map[string]int64{"messages": 3}, got[1].Counts)
		require.Equal(t, "tok-1", got[1].TokenID)
		require.Equal(t, map[string]int64{}, got[0].Counts)
		page, err := b.store.ListAudit(b.ctx, b.t1.ID, second.ID, 10)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, first.ID, page[0].ID)
	})
}

func (s *suite) retention(t *testing.T) {
	t.Run("DeleteExpired", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		old := conversation(t, b, b.t1, "bot-1", "user-1")
		kept := conversation(t, b, b.t1, "bot-2", "user-1")
		theirs := conversation(t, b, b.t2, "bot-1", "user-1")
		for _, c := range []struct {
			tenant *parley.Tenant
			id     string
		}{{b.t1, old.ID}, {b.t1, kept.ID}, {b.t2, theirs.ID}} {
			appendText(t, b, c.tenant, c.id, "hello")
			appendText(t, b, c.tenant, c.id, "again")
		}
		require.NoError(t, b.store.SetMessageMedia(b.ctx, b.t1.ID, old.ID, 1,
			[]parley.Media{{URL: "https://example.com/a.png", Status: parley.MediaStored, SHA256: "aa"}}))

		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.SetRetention(b.ctx, b.t1.ID, "nope", 30)))
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(b.store.SetRetention(b.ctx, b.t2.ID, "bot-2", 30)), "another tenant's bot")
		require.NoError(t, b.store.SetRetention(b.ctx, b.t1.ID, "bot-1", 7))
		require.NoError(t, b.store.SetRetention(b.ctx, b.t1.ID, "bot-1", 30), "set again: replaced")
		rules, err := b.store.ListRetention(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Equal(t, []parley.Retention{{BotID: "bot-1", Days: 30}}, rules)

		now := time.Now()
		gone, err := b.store.DeleteExpired(b.ctx, now.Add(29*24*time.Hour), 100)
		require.NoError(t, err)
		require.Empty(t, gone, "not idle long enough")
		gone, err = b.store.DeleteExpired(b.ctx, now.Add(31*24*time.Hour), 100)
		require.NoError(t, err)
		require.Equal(t, []parley.Expired{{TenantID: b.t1.ID, BotID: "bot-1", Conversations: 1, Messages: 2, MediaSHA256: []string{"aa"}}}, gone)
		_, err = b.store.GetConversation(b.ctx, b.t1.ID, old.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = b.store.GetConversation(b.ctx, b.t1.ID, kept.ID)
		require.NoError(t, err, "a bot with no retention keeps its conversations")
		_, err = b.store.GetConversation(b.ctx, b.t2.ID, theirs.ID)
		require.NoError(t, err, "another tenant's rules are its own")
		used, err := b.store.ContentReferenced(b.ctx, b.t1.ID, "aa")
		require.NoError(t, err)
		require.False(t, used)

		require.NoError(t, b.store.SetRetention(b.ctx, b.t1.ID, "bot-1", 0))
		rules, err = b.store.ListRetention(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Empty(t, rules, "0 removes it")
	})
}
