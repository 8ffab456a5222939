package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/content"
)

// ContentFields are an item's descriptive fields as written (exported:
// huma reads embedded structs only when they are).
type ContentFields struct {
	Title       string   `json:"title,omitempty" maxLength:"300"`
	Description string   `json:"description,omitempty" maxLength:"4000"`
	Tags        []string `json:"tags,omitempty" maxItems:"50" doc:"words it is found by, each at most 100 bytes"`
}

type addContentInput struct {
	Body struct {
		BotID     string `json:"bot_id" minLength:"1" maxLength:"128"`
		ImageURL  string `json:"image_url" minLength:"1" maxLength:"2048" doc:"an http(s) URL of the media (any media the library takes, despite the name)"`
		MediaType string `json:"media_type,omitempty" maxLength:"100" doc:"what it must be: a top-level type (image) or a full one (image/png); checked against the bytes"`
		ContentFields
	}
}

type uploadContentInput struct {
	RawBody huma.MultipartFormFiles[struct {
		File        huma.FormFile `form:"file" contentType:"application/octet-stream" required:"true" doc:"the file (any declared type: the bytes decide)"`
		BotID       string        `form:"bot_id" minLength:"1" maxLength:"128" required:"true"`
		MediaType   string        `form:"media_type" maxLength:"100" required:"false"`
		Title       string        `form:"title" maxLength:"300" required:"false"`
		Description string        `form:"description" maxLength:"4000" required:"false"`
		Tags        []string      `form:"tags" maxItems:"50" required:"false" doc:"one field per tag"`
	}]
}

type contentOutput struct {
	Status int
	Body   *ContentView
}

// ContentView is an item as the API shows it: with where its file and
// thumbnail are served.
type ContentView struct {
	parley.ContentItem
	URL          string `json:"url" doc:"the file, served with the tenant check"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

func view(it *parley.ContentItem) *ContentView {
	v := &ContentView{ContentItem: *it, URL: "/api/content/" + it.ID + "/file"}
	if it.HasThumbnail {
		v.ThumbnailURL = "/api/content/" + it.ID + "/thumbnail"
	}
	return v
}

type listContentInput struct {
	BotID     string `query:"bot_id" maxLength:"128" required:"true"`
	Search    string `query:"search" maxLength:"500" doc:"words; the best matches first"`
	MediaType string `query:"media_type" maxLength:"100" doc:"a top-level type (image) or a full one (image/png)"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Cursor    string `query:"cursor" maxLength:"256" doc:"next_cursor of a previous page"`
}

type listContentOutput struct {
	Body struct {
		Items      []*ContentView `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
}

// contentCursor is a listing's place: the last id, or a search's offset.
type contentCursor struct {
	ID     string `json:"i,omitempty"`
	Offset int    `json:"o,omitempty"`
}

type ContentPath struct {
	ID string `path:"id" maxLength:"64"`
}

type patchContentInput struct {
	ContentPath
	Body struct {
		Title       *string   `json:"title,omitempty" maxLength:"300"`
		Description *string   `json:"description,omitempty" maxLength:"4000"`
		Caption     *string   `json:"caption,omitempty" maxLength:"4000"`
		Tags        *[]string `json:"tags,omitempty" maxItems:"50"`
	}
}

func (s *Server) registerContent() {
	o := op("addContent", http.MethodPost, "/api/content",
		"Fetch media from a URL into a bot's library (the seeds' uploadContent): 201, or 200 with the item the bot has for the same bytes", "content")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *addContentInput) (*contentOutput, error) {
		b := in.Body
		return s.addContent(ctx, content.Upload{BotID: b.BotID, URL: b.ImageURL, MediaType: b.MediaType, Title: b.Title,
			Description: b.Description, Tags: b.Tags, Field: "body.image_url"})
	})
	o = op("uploadContent", http.MethodPost, "/api/content/upload",
		"Upload a file into a bot's library (multipart/form-data): 201, or 200 with the item the bot has for the same bytes", "content")
	o.DefaultStatus = http.StatusCreated
	o.MaxBodyBytes = content.DefaultMaxBytes + 1<<20
	huma.Register(s.api, o, func(ctx context.Context, in *uploadContentInput) (*contentOutput, error) {
		f := in.RawBody.Data()
		if f.File.Size > s.contentMaxBytes() {
			return nil, s.problem(ctx, parley.FieldError(parley.ETOOLARGE, "body.file", "more than %d bytes", s.contentMaxBytes()))
		}
		data, err := io.ReadAll(io.LimitReader(f.File, s.contentMaxBytes()+1))
		if err != nil {
			return nil, s.problem(ctx, parley.FieldError(parley.EINVALID, "body.file", "reading the file: %v", err))
		}
		return s.addContent(ctx, content.Upload{BotID: f.BotID, Data: data, FileName: f.File.Filename, MediaType: f.MediaType,
			Title: f.Title, Description: f.Description, Tags: f.Tags, Field: "body.file"})
	})
	huma.Register(s.api, op("listContent", http.MethodGet, "/api/content",
		"A bot's library: searched (best first) or newest first (the seeds' searchContent)", "content"),
		func(ctx context.Context, in *listContentInput) (*listContentOutput, error) {
			if s.library == nil {
				return nil, errNoLibrary
			}
			tenantID := principal(ctx).TenantID
			if err := check(parley.ValidID(in.BotID, "query.bot_id")); err != nil {
				return nil, err
			}
			if _, err := s.store.GetBot(ctx, tenantID, in.BotID); err != nil {
				return nil, s.problem(ctx, err)
			}
			var cur contentCursor
			if err := decodeCursor(in.Cursor, "cursor", &cur); err != nil {
				return nil, err
			}
			limit := cmp.Or(in.Limit, 20)
			var items []parley.ContentItem
			var err error
			next := contentCursor{}
			if strings.TrimSpace(in.Search) != "" {
				items, err = s.library.Search(ctx, tenantID, in.BotID, in.Search, in.MediaType, cur.Offset, limit+1)
				next.Offset = cur.Offset + limit
			} else {
				items, err = s.store.ListContent(ctx, tenantID, parley.ContentFilter{BotID: in.BotID, MediaType: in.MediaType,
					BeforeID: cur.ID, Limit: limit + 1})
			}
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listContentOutput{}
			if len(items) > limit {
				items = items[:limit]
				next.ID = items[len(items)-1].ID
				if next.Offset > 0 {
					next.ID = ""
				}
				out.Body.NextCursor = encodeCursor(next)
			}
			out.Body.Items = []*ContentView{}
			for i := range items {
				out.Body.Items = append(out.Body.Items, view(&items[i]))
			}
			return out, nil
		})
	huma.Register(s.api, op("getContent", http.MethodGet, "/api/content/{id}", "Get a library item", "content"),
		func(ctx context.Context, in *ContentPath) (*contentOutput, error) {
			it, err := s.store.GetContent(ctx, principal(ctx).TenantID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &contentOutput{Status: http.StatusOK, Body: view(it)}, nil
		})
	huma.Register(s.api, op("patchContent", http.MethodPatch, "/api/content/{id}",
		"Change a library item's title, description, caption or tags", "content"),
		func(ctx context.Context, in *patchContentInput) (*contentOutput, error) {
			b := in.Body
			it, err := s.store.PatchContent(ctx, principal(ctx).TenantID, in.ID,
				parley.ContentPatch{Title: b.Title, Description: b.Description, Caption: b.Caption, Tags: b.Tags})
			if err != nil {
				if e := check(err); e != err {
					return nil, e
				}
				return nil, s.problem(ctx, err)
			}
			return &contentOutput{Status: http.StatusOK, Body: view(it)}, nil
		})
	o = op("deleteContent", http.MethodDelete, "/api/content/{id}",
		"Delete a library item (its bytes too, when no other item has them)", "content")
	o.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, o, func(ctx context.Context, in *ContentPath) (*struct{}, error) {
		if s.library == nil {
			return nil, errNoLibrary
		}
		if err := s.library.Delete(ctx, principal(ctx).TenantID, in.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})
}

var errNoLibrary = huma.NewError(http.StatusServiceUnavailable, "this server has no content library configured")

func (s *Server) contentMaxBytes() int64 {
	if s.library != nil && s.library.MaxBytes > 0 {
		return s.library.MaxBytes
	}
	return content.DefaultMaxBytes
}

func (s *Server) addContent(ctx context.Context, u content.Upload) (*contentOutput, error) {
	if s.library == nil {
		return nil, errNoLibrary
	}
	if err := check(parley.ValidID(u.BotID, "body.bot_id")); err != nil {
		return nil, err
	}
	it, created, err := s.library.Add(ctx, principal(ctx).TenantID, u)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &contentOutput{Status: http.StatusCreated, Body: view(it)}
	if !created {
		out.Status = http.StatusOK
	}
	return out, nil
}

// serveContent serves an item's file or thumbnail: the tenant's only.
func (s *Server) serveContent(thumb bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.library == nil {
			writeProblem(w, http.StatusServiceUnavailable, "this server has no content library configured", "")
			return
		}
		ctx := r.Context()
		tenantID := principal(ctx).TenantID
		it, err := s.store.GetContent(ctx, tenantID, r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, size, err := s.library.Open(ctx, tenantID, it, thumb)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		mediaType, etag, name := it.MediaType, `"`+it.SHA256+`"`, it.FileName
		if thumb {
			_, mediaType = content.Thumbnail(tenantID, it)
			etag, name = `"`+it.SHA256+`-thumb"`, ""
		}
		serveBlob(w, r, body, size, mediaType, etag, name, it.CreatedAt)
	}
}

// serveMessageMedia serves the bytes kept of a user message's media: the
// tenant's only.
func (s *Server) serveMessageMedia(w http.ResponseWriter, r *http.Request) {
	if s.library == nil {
		writeProblem(w, http.StatusServiceUnavailable, "this server has no content library configured", "")
		return
	}
	ctx := r.Context()
	tenantID := principal(ctx).TenantID
	seq, err1 := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	index, err2 := strconv.Atoi(r.PathValue("index"))
	if err1 != nil || err2 != nil || seq < 1 || index < 0 {
		writeProblem(w, http.StatusNotFound, "no such media", "")
		return
	}
	// MessagesAt is the tenant check: another tenant's conversation has
	// no messages to it.
	msgs, err := s.store.MessagesAt(ctx, tenantID, r.PathValue("id"), []int64{seq})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(msgs) == 0 || index >= len(msgs[0].AttachedMedia) {
		writeProblem(w, http.StatusNotFound, "no such media", "")
		return
	}
	m := msgs[0].AttachedMedia[index]
	body, size, err := s.library.OpenMedia(ctx, tenantID, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	serveBlob(w, r, body, size, m.MediaType, `"`+m.SHA256+`"`, "", msgs[0].CreatedAt)
}

// serveBlob writes stored bytes with their SHA-256 as the ETag (bytes
// under a name never change, so a client may keep them), ranges, and no
// sniffing or scripting by the browser.
func serveBlob(w http.ResponseWriter, r *http.Request, body io.ReadCloser, size int64, mediaType, etag, name string, modified time.Time) {
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if name != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	}
	if rs, ok := body.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", modified, rs) // answers If-None-Match and Range from the ETag
		return
	}
	if match := r.Header.Get("If-None-Match"); match == etag || match == "*" {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(size))
	_, _ = io.Copy(w, body)
}

// writeError writes a domain error as problem JSON outside huma.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var em *huma.ErrorModel
	if errors.As(s.problem(r.Context(), err), &em) {
		writeProblem(w, em.Status, em.Detail, "")
		return
	}
	writeProblem(w, http.StatusInternalServerError, "internal error", "")
}
