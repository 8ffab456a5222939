package httpapi

import (
	"cmp"
	"context"
	"mime"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
)

func requireAdmin(ctx context.Context) error {
	if !principal(ctx).Admin {
		return huma.Error403Forbidden("this call needs an admin token")
	}
	return nil
}

// ---- bots

type BotFields struct {
	Name     *string               `json:"name,omitempty" maxLength:"200"`
	Persona  *string               `json:"persona,omitempty" maxLength:"32000" doc:"system prompt: who the bot is and how it answers"`
	Language *string               `json:"language,omitempty" maxLength:"35" doc:"default language (BCP 47), e.g. es"`
	Webhook  *string               `json:"webhook,omitempty" maxLength:"2048" doc:"default webhook of the bot's conversations"`
	Model    *ModelFields          `json:"model,omitempty"`
	Reply    *parley.ReplySettings `json:"reply,omitempty" doc:"what user messages do while a reply is pending"`
}

// ModelFields are a bot's model settings as written: the settings, and the
// bot's own API key for its base_url, which is sealed at rest and never
// shown again (answers say has_api_key).
type ModelFields struct {
	parley.ModelSettings
	APIKey *string `json:"api_key,omitempty" maxLength:"4096" writeOnly:"true" doc:"the bot's own key for base_url, sent as Bearer to that endpoint only; never returned. Omitted: kept while base_url stays the same; \"\" removes it"`
}

// botPatch turns the fields into a patch of the tenant's bot: URLs
// checked, the endpoint allowed by the operator, the bot's own key sealed
// for this tenant and bot.
func (s *Server) botPatch(ctx context.Context, botID string, b BotFields) (parley.BotPatch, error) {
	p := parley.BotPatch{Name: b.Name, Persona: b.Persona, Language: b.Language, Webhook: b.Webhook, Reply: b.Reply}
	if b.Webhook != nil {
		if err := check(parley.ValidURL(*b.Webhook, "body.webhook")); err != nil {
			return parley.BotPatch{}, err
		}
	}
	if b.Model == nil {
		return p, nil
	}
	tenantID := principal(ctx).TenantID
	m := b.Model.ModelSettings
	p.Model = &m
	if m.BaseURL != "" {
		if err := check(parley.ValidURL(m.BaseURL, "body.model.base_url")); err != nil {
			return parley.BotPatch{}, err
		}
		if !s.endpoints.Allows(tenantID) {
			return parley.BotPatch{}, s.problem(ctx, parley.FieldError(parley.EFORBIDDEN, "body.model.base_url",
				"this server does not let this tenant's bots use their own model endpoint; the operator decides (PARLEY_BOT_ENDPOINTS)"))
		}
	}
	if b.Model.APIKey == nil {
		return p, nil
	}
	sealed := ""
	if key := *b.Model.APIKey; key != "" {
		if m.BaseURL == "" {
			return parley.BotPatch{}, fieldProblem("body.model.api_key",
				"a bot's api_key is sent only to its own base_url: set model.base_url with it")
		}
		if s.keys == nil {
			return parley.BotPatch{}, fieldProblem("body.model.api_key",
				"this server has no secret key to seal API keys with (PARLEY_SECRET_KEY)")
		}
		sealed = s.keys.Seal(key, parley.ModelKeyOwner(tenantID, botID))
	}
	p.ModelKey = &sealed
	return p, nil
}

type createBotInput struct {
	Body struct {
		ID string `json:"id" minLength:"1" maxLength:"128" doc:"the client's id for the bot, e.g. bot-456"`
		BotFields
	}
}

type botOutput struct {
	Body *parley.Bot
}

type BotPath struct {
	ID string `path:"id" maxLength:"128"`
}

type patchBotInput struct {
	BotPath
	Body BotFields
}

type listBotsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"512"`
}

type listBotsOutput struct {
	Body struct {
		Bots       []parley.Bot `json:"bots"`
		NextCursor string       `json:"next_cursor"`
	}
}

func (s *Server) registerBots() {
	o := op("createBot", http.MethodPost, "/api/bots", "Create a bot (admin)", "bots")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *createBotInput) (*botOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := check(parley.ValidID(in.Body.ID, "body.id")); err != nil {
			return nil, err
		}
		p, err := s.botPatch(ctx, in.Body.ID, in.Body.BotFields)
		if err != nil {
			return nil, err
		}
		b := &parley.Bot{ID: in.Body.ID}
		p.Apply(b)
		b, err = s.store.CreateBot(ctx, principal(ctx).TenantID, b)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &botOutput{Body: b}, nil
	})
	huma.Register(s.api, op("listBots", http.MethodGet, "/api/bots", "List bots", "bots"),
		func(ctx context.Context, in *listBotsInput) (*listBotsOutput, error) {
			var cur listCursor
			if err := decodeCursor(in.Cursor, "cursor", &cur); err != nil {
				return nil, err
			}
			bots, err := s.store.ListBots(ctx, principal(ctx).TenantID, cur.ID, in.Limit+1)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listBotsOutput{}
			if len(bots) > in.Limit {
				bots = bots[:in.Limit]
				out.Body.NextCursor = encodeCursor(listCursor{ID: bots[len(bots)-1].ID})
			}
			out.Body.Bots = append([]parley.Bot{}, bots...)
			return out, nil
		})
	huma.Register(s.api, op("getBot", http.MethodGet, "/api/bots/{id}", "Get a bot", "bots"),
		func(ctx context.Context, in *BotPath) (*botOutput, error) {
			b, err := s.store.GetBot(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &botOutput{Body: b}, nil
		})
	huma.Register(s.api, op("updateBot", http.MethodPatch, "/api/bots/{id}", "Change a bot (admin)", "bots"),
		func(ctx context.Context, in *patchBotInput) (*botOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			p, err := s.botPatch(ctx, in.ID, in.Body)
			if err != nil {
				return nil, err
			}
			b, err := s.store.UpdateBot(ctx, principal(ctx).TenantID, in.ID, p)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &botOutput{Body: b}, nil
		})
	o = op("deleteBot", http.MethodDelete, "/api/bots/{id}", "Delete a bot with its conversations (admin)", "bots")
	o.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, o, func(ctx context.Context, in *BotPath) (*struct{}, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		del := s.store.DeleteBot
		if s.library != nil {
			del = s.library.DeleteBot // and the bytes only its items had
		}
		if err := del(ctx, principal(ctx).TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})
}

// ---- users

type UserPath struct {
	ID string `path:"id" maxLength:"128"`
}

type userBody struct {
	Platform *string        `json:"platform,omitempty" maxLength:"64"`
	Language *string        `json:"language,omitempty" maxLength:"35"`
	KV       map[string]any `json:"kv,omitempty" doc:"key-value context (V1: user_kv_pairs); PATCH merges key by key and a null value removes a key"`
}

type putUserInput struct {
	UserPath
	Body userBody
}

type userOutput struct {
	Status int
	Body   *parley.User
}

func (s *Server) registerUsers() {
	huma.Register(s.api, op("getUser", http.MethodGet, "/api/users/{id}", "Get a user", "users"),
		func(ctx context.Context, in *UserPath) (*userOutput, error) {
			u, err := s.store.GetUser(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &userOutput{Status: http.StatusOK, Body: u}, nil
		})
	huma.Register(s.api, op("putUser", http.MethodPut, "/api/users/{id}", "Create or replace a user", "users"),
		func(ctx context.Context, in *putUserInput) (*userOutput, error) {
			if err := parley.FirstError(check(parley.ValidID(in.ID, "path.id")), check(parley.ValidKV(in.Body.KV, "body.kv"))); err != nil {
				return nil, err
			}
			u := &parley.User{ID: in.ID, KV: in.Body.KV}
			if in.Body.Platform != nil {
				u.Platform = *in.Body.Platform
			}
			if in.Body.Language != nil {
				u.Language = *in.Body.Language
			}
			for k, v := range u.KV {
				if v == nil {
					delete(u.KV, k)
				}
			}
			u, created, err := s.store.PutUser(ctx, principal(ctx).TenantID, u)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &userOutput{Status: http.StatusOK, Body: u}
			if created {
				out.Status = http.StatusCreated
			}
			return out, nil
		})
	huma.Register(s.api, op("patchUser", http.MethodPatch, "/api/users/{id}", "Change a user; kv merges", "users"),
		func(ctx context.Context, in *putUserInput) (*userOutput, error) {
			if err := check(parley.ValidKV(in.Body.KV, "body.kv")); err != nil {
				return nil, err
			}
			u, err := s.store.PatchUser(ctx, principal(ctx).TenantID, in.ID,
				parley.UserPatch{Platform: in.Body.Platform, Language: in.Body.Language, KV: in.Body.KV})
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &userOutput{Status: http.StatusOK, Body: u}, nil
		})
	o := op("deleteUser", http.MethodDelete, "/api/users/{id}",
		"Erase a user with their conversations, memories and media (recorded in the audit log)", "users")
	o.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, o, func(ctx context.Context, in *UserPath) (*struct{}, error) {
		p := principal(ctx)
		if _, err := s.store.GetUser(ctx, p.TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		counts, err := parley.UserCounts(ctx, s.store, p.TenantID, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		del := s.store.DeleteUser
		if s.library != nil {
			del = s.library.DeleteUser // and the bytes only their media had
		}
		if err := del(ctx, p.TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		if _, err := s.store.RecordAudit(ctx, p.TenantID, parley.AuditEntry{Action: parley.AuditUserErase, Subject: in.ID,
			TokenID: p.TokenID, Counts: counts}); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})
	huma.Register(s.api, op("exportUser", http.MethodGet, "/api/users/{id}/export",
		"Everything of a user as one JSON file: conversations with messages (and their media), memories (admin; recorded in the audit log)", "users"),
		func(ctx context.Context, in *UserPath) (*userExportOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			p := principal(ctx)
			e, err := parley.ExportUser(ctx, s.store, p.TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			if _, err := s.store.RecordAudit(ctx, p.TenantID, parley.AuditEntry{Action: parley.AuditUserExport, Subject: in.ID,
				TokenID: p.TokenID, Counts: e.Counts()}); err != nil {
				return nil, s.problem(ctx, err)
			}
			return &userExportOutput{Disposition: mime.FormatMediaType("attachment", map[string]string{"filename": "parley-user-" + in.ID + ".json"}),
				Body: e}, nil
		})
	huma.Register(s.api, op("setRetention", http.MethodPut, "/api/bots/{id}/retention",
		"How long the bot keeps idle conversations (admin): deleted with their messages and media, hourly, and audited", "bots"),
		func(ctx context.Context, in *retentionInput) (*retentionOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			tenantID := principal(ctx).TenantID
			if err := s.store.SetRetention(ctx, tenantID, in.ID, in.Body.Days); err != nil {
				return nil, s.problem(ctx, err)
			}
			return s.retention(ctx, tenantID)
		})
	huma.Register(s.api, op("listRetention", http.MethodGet, "/api/retention", "The bots' retention rules", "bots"),
		func(ctx context.Context, _ *struct{}) (*retentionOutput, error) {
			return s.retention(ctx, principal(ctx).TenantID)
		})
	huma.Register(s.api, op("listAudit", http.MethodGet, "/api/audit",
		"Who exported or erased whose data, and how much, newest first (admin)", "users"),
		func(ctx context.Context, in *auditInput) (*auditOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			var cur listCursor
			if err := decodeCursor(in.Cursor, "cursor", &cur); err != nil {
				return nil, err
			}
			limit := cmp.Or(in.Limit, 50)
			es, err := s.store.ListAudit(ctx, principal(ctx).TenantID, cur.ID, limit+1)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &auditOutput{}
			if len(es) > limit {
				es = es[:limit]
				out.Body.NextCursor = encodeCursor(listCursor{ID: es[len(es)-1].ID})
			}
			out.Body.Entries = append([]parley.AuditEntry{}, es...)
			return out, nil
		})
}

type retentionInput struct {
	BotPath
	Body struct {
		Days int `json:"days" minimum:"0" maximum:"3650" doc:"conversations idle longer than this many days are deleted, hourly; 0 keeps them"`
	}
}

type retentionOutput struct {
	Body struct {
		Retention []parley.Retention `json:"retention"`
	}
}

type userExportOutput struct {
	Disposition string `header:"Content-Disposition"`
	Body        *parley.UserExport
}

type auditInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"256"`
}

type auditOutput struct {
	Body struct {
		Entries    []parley.AuditEntry `json:"entries"`
		NextCursor string              `json:"next_cursor"`
	}
}

// ---- tokens and tenants

type TokenPath struct {
	ID string `path:"id" maxLength:"64"`
}

type createTokenInput struct {
	Body struct {
		Name  string `json:"name,omitempty" maxLength:"200"`
		Admin bool   `json:"admin,omitempty"`
	}
}

type NewToken struct {
	Token  *parley.Token `json:"token"`
	Secret string        `json:"secret" doc:"the token itself; shown once, stored only as a hash"`
}

type createTokenOutput struct {
	Body NewToken
}

type listTokensOutput struct {
	Body struct {
		Tokens []parley.Token `json:"tokens"`
	}
}

type createTenantInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"128"`
	}
}

type createTenantOutput struct {
	Body struct {
		Tenant *parley.Tenant `json:"tenant"`
		NewToken
	}
}

func (s *Server) registerTokens() {
	o := op("createToken", http.MethodPost, "/api/tokens", "Create a token of the caller's tenant (admin)", "tokens")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *createTokenInput) (*createTokenOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		secret, hash := parley.NewToken()
		tok, err := s.store.CreateToken(ctx, principal(ctx).TenantID, in.Body.Name, in.Body.Admin, hash)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &createTokenOutput{Body: NewToken{Token: tok, Secret: secret}}, nil
	})
	huma.Register(s.api, op("listTokens", http.MethodGet, "/api/tokens", "List the tenant's tokens (admin)", "tokens"),
		func(ctx context.Context, _ *struct{}) (*listTokensOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			toks, err := s.store.ListTokens(ctx, principal(ctx).TenantID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listTokensOutput{}
			out.Body.Tokens = append([]parley.Token{}, toks...)
			return out, nil
		})
	o = op("deleteToken", http.MethodDelete, "/api/tokens/{id}", "Revoke a token (admin)", "tokens")
	o.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, o, func(ctx context.Context, in *TokenPath) (*struct{}, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := s.store.DeleteToken(ctx, principal(ctx).TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		s.auth.forgetToken(in.ID)
		return nil, nil
	})
	o = op("createTenant", http.MethodPost, "/api/tenants",
		"Create a tenant and an admin token for it (admin of the default tenant)", "tokens")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *createTenantInput) (*createTenantOutput, error) {
		p := principal(ctx)
		if !p.Admin || p.TenantID != s.defaultTenant {
			return nil, huma.Error403Forbidden("creating tenants needs an admin token of the default tenant")
		}
		if err := check(parley.ValidID(in.Body.Name, "body.name")); err != nil {
			return nil, err
		}
		t, err := s.store.EnsureTenant(ctx, in.Body.Name)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		secret, hash := parley.NewToken()
		tok, err := s.store.CreateToken(ctx, t.ID, "admin", true, hash)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &createTenantOutput{}
		out.Body.Tenant, out.Body.Token, out.Body.Secret = t, tok, secret
		return out, nil
	})
}

func (s *Server) retention(ctx context.Context, tenantID string) (*retentionOutput, error) {
	rules, err := s.store.ListRetention(ctx, tenantID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &retentionOutput{}
	out.Body.Retention = append([]parley.Retention{}, rules...)
	return out, nil
}
