package httpapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/memory"
)

// memoryPage is one page's parameters.
type memoryPage struct {
	Search, Cursor string
	Limit          int
}

type conversationMemoriesInput struct {
	ID     string `path:"id" maxLength:"64"`
	Search string `query:"search" maxLength:"200" doc:"words every memory listed contains (any case)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"next_cursor of a previous page"`
}

type userMemoriesInput struct {
	ID     string `path:"id" maxLength:"128"`
	BotID  string `query:"bot_id" maxLength:"128" doc:"one bot's memories of the user (default: every bot's)"`
	Kind   string `query:"kind" enum:"name,place,work,family,pet,like,dislike,plan,fact"`
	Search string `query:"search" maxLength:"200" doc:"words every memory listed contains (any case)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"next_cursor of a previous page"`
}

type memoriesOutput struct {
	Body struct {
		Memories   []parley.Memory `json:"memories"`
		NextCursor string          `json:"next_cursor"`
		// MemoriesSeq is the conversation's: its memories are current up to
		// this message (only for a conversation's memories).
		MemoriesSeq *int64 `json:"memories_seq,omitempty" doc:"the conversation's memories are current up to this message"`
	}
}

// MemoryFields are a memory as written (exported: huma reads embedded
// structs only when they are).
type MemoryFields struct {
	Kind string `json:"kind,omitempty" enum:"name,place,work,family,pet,like,dislike,plan,fact" doc:"default fact"`
	Text string `json:"text" minLength:"1" maxLength:"1000" doc:"what the bot knows, as a short statement (e.g. Lives in Madrid)"`
}

type addMemoryInput struct {
	ID   string `path:"id" maxLength:"128"`
	Body struct {
		BotID string `json:"bot_id" minLength:"1" maxLength:"128"`
		Key   string `json:"key,omitempty" maxLength:"200" doc:"what it is about; a memory of the same key is confirmed or replaced (default: from kind and text)"`
		MemoryFields
	}
}

type memoryOutput struct {
	Status int
	Body   struct {
		Memory *parley.Memory       `json:"memory"`
		Change *parley.MemoryChange `json:"change,omitempty" enum:"create,confirm,supersede"`
	}
}

type MemoryPath struct {
	ID string `path:"id" maxLength:"64"`
}

type editMemoryInput struct {
	MemoryPath
	Body struct {
		Kind string `json:"kind,omitempty" enum:"name,place,work,family,pet,like,dislike,plan,fact" doc:"default: as it is"`
		Text string `json:"text,omitempty" maxLength:"1000" doc:"default: as it is"`
	}
}

type recallInput struct {
	ID    string `path:"id" maxLength:"64"`
	Q     string `query:"q" maxLength:"500" required:"true" doc:"the text to recall for, as a reply would"`
	Limit int    `query:"limit" minimum:"1" maximum:"50" default:"10"`
}

type recallOutput struct {
	Body struct {
		Hits []parley.RecallHit `json:"hits"`
	}
}

type memoryHistoryOutput struct {
	Body struct {
		Versions []parley.MemoryVersion `json:"versions"`
	}
}

func (s *Server) registerMemories() {
	huma.Register(s.api, op("getConversationMemories", http.MethodGet, "/api/conversations/{id}/memories",
		"What the bot has learned about this conversation's user (the seeds' getMemories)", "memories"),
		func(ctx context.Context, in *conversationMemoriesInput) (*memoriesOutput, error) {
			c, err := s.store.GetConversation(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out, err := s.listMemories(ctx, parley.MemoryFilter{BotID: c.BotID, UserID: c.UserID}, memoryPage{in.Search, in.Cursor, in.Limit})
			if err == nil {
				out.Body.MemoriesSeq = &c.MemoriesSeq
			}
			return out, err
		})
	huma.Register(s.api, op("recall", http.MethodGet, "/api/conversations/{id}/recall",
		"What retrieval finds for a text: the user's memories and the conversation's messages, ranked", "memories"),
		func(ctx context.Context, in *recallInput) (*recallOutput, error) {
			tenantID := principal(ctx).TenantID
			c, err := s.store.GetConversation(ctx, tenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			hits, err := memory.Recall{Store: s.store, Embedder: s.embedder}.Search(ctx, tenantID, c, in.Q, cmp.Or(in.Limit, 10))
			if errors.Is(err, memory.ErrEmbed) {
				return nil, s.embedFailed(ctx, err)
			}
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &recallOutput{}
			out.Body.Hits = append([]parley.RecallHit{}, hits...)
			return out, nil
		})
	huma.Register(s.api, op("listUserMemories", http.MethodGet, "/api/users/{id}/memories",
		"Memories of a user, by every bot or one", "memories"),
		func(ctx context.Context, in *userMemoriesInput) (*memoriesOutput, error) {
			if _, err := s.store.GetUser(ctx, principal(ctx).TenantID, in.ID); err != nil {
				return nil, s.problem(ctx, err)
			}
			return s.listMemories(ctx, parley.MemoryFilter{BotID: in.BotID, UserID: in.ID, Kind: in.Kind}, memoryPage{in.Search, in.Cursor, in.Limit})
		})
	o := op("addMemory", http.MethodPost, "/api/users/{id}/memories",
		"Add a memory by hand (a known key is confirmed or replaced, as when the user says it)", "memories")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *addMemoryInput) (*memoryOutput, error) {
		f := parley.Fact{Kind: cmp.Or(in.Body.Kind, parley.KindFact), Key: in.Body.Key, Text: in.Body.Text, Confidence: 1}
		if err := check(parley.FirstError(parley.ValidID(in.Body.BotID, "body.bot_id"), parley.ValidFact(f, "body"))); err != nil {
			return nil, err
		}
		if err := s.embed(ctx, &f); err != nil {
			return nil, err
		}
		m, change, err := s.store.AddMemory(ctx, principal(ctx).TenantID, in.Body.BotID, in.ID, f)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &memoryOutput{Status: http.StatusCreated}
		if change != parley.MemoryCreate {
			out.Status = http.StatusOK
		}
		out.Body.Memory, out.Body.Change = m, &change
		return out, nil
	})
	huma.Register(s.api, op("getMemory", http.MethodGet, "/api/memories/{id}", "Get a memory", "memories"),
		func(ctx context.Context, in *MemoryPath) (*memoryOutput, error) {
			m, err := s.store.GetMemory(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &memoryOutput{Status: http.StatusOK}
			out.Body.Memory = m
			return out, nil
		})
	huma.Register(s.api, op("editMemory", http.MethodPatch, "/api/memories/{id}",
		"Correct a memory (the old text stays in its history)", "memories"),
		func(ctx context.Context, in *editMemoryInput) (*memoryOutput, error) {
			tenantID := principal(ctx).TenantID
			cur, err := s.store.GetMemory(ctx, tenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			f := parley.Fact{Kind: cmp.Or(in.Body.Kind, cur.Kind), Text: cmp.Or(in.Body.Text, cur.Text)}
			if err := check(parley.ValidFact(f, "body")); err != nil {
				return nil, err
			}
			if err := s.embed(ctx, &f); err != nil {
				return nil, err
			}
			m, err := s.store.EditMemory(ctx, tenantID, in.ID, f)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &memoryOutput{Status: http.StatusOK}
			out.Body.Memory = m
			return out, nil
		})
	o = op("deleteMemory", http.MethodDelete, "/api/memories/{id}", "Erase a memory with its history", "memories")
	o.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, o, func(ctx context.Context, in *MemoryPath) (*struct{}, error) {
		if err := s.store.DeleteMemory(ctx, principal(ctx).TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})
	huma.Register(s.api, op("memoryHistory", http.MethodGet, "/api/memories/{id}/history",
		"A memory's past texts, newest first", "memories"),
		func(ctx context.Context, in *MemoryPath) (*memoryHistoryOutput, error) {
			vs, err := s.store.MemoryHistory(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &memoryHistoryOutput{}
			out.Body.Versions = vs
			return out, nil
		})
}

// listMemories reads one page of memories.
func (s *Server) listMemories(ctx context.Context, f parley.MemoryFilter, p memoryPage) (*memoriesOutput, error) {
	p.Limit = cmp.Or(max(p.Limit, 0), parley.DefaultPageSize)
	var cur listCursor
	if err := decodeCursor(p.Cursor, "cursor", &cur); err != nil {
		return nil, err
	}
	f.Search, f.Limit, f.BeforeID = p.Search, p.Limit+1, cur.ID
	ms, err := s.store.ListMemories(ctx, principal(ctx).TenantID, f)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &memoriesOutput{}
	if len(ms) > p.Limit {
		ms = ms[:p.Limit]
		out.Body.NextCursor = encodeCursor(listCursor{ID: ms[len(ms)-1].ID})
	}
	out.Body.Memories = append([]parley.Memory{}, ms...)
	return out, nil
}

// embed gives a fact given by hand its vector: an embeddings endpoint that
// fails answers 502, and nothing is stored.
func (s *Server) embed(ctx context.Context, f *parley.Fact) error {
	facts := []parley.Fact{*f}
	if err := memory.Embed(ctx, s.embedder, facts); err != nil {
		return s.embedFailed(ctx, err)
	}
	*f = facts[0]
	return nil
}

// embedFailed is the answer when the embeddings endpoint failed: 502, to
// be tried again.
func (s *Server) embedFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return huma.NewError(499, "request cancelled")
	}
	s.logger.WarnContext(ctx, "embeddings endpoint failed", "err", err)
	return huma.NewError(http.StatusBadGateway, "the embeddings endpoint failed (nothing was stored); try again")
}
