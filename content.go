package parley

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of content items.
const (
	MaxContentTitle       = 300  // bytes
	MaxContentDescription = 4000 // bytes, the caption too
	MaxContentTags        = 50
	MaxContentTag         = 100 // bytes per tag
	MaxContentFileName    = 255 // bytes
)

// ContentItem is one piece of media in a bot's library. Its bytes are
// stored once per tenant, by their SHA-256, however many bots and items
// share them; an item's type and dimensions come from its bytes, never
// from what the uploader or the sending server said.
type ContentItem struct {
	ID           string    `json:"id"`
	BotID        string    `json:"bot_id"`
	MediaType    string    `json:"media_type" doc:"detected from the bytes, e.g. image/png"`
	SHA256       string    `json:"sha256" doc:"hex digest of the bytes"`
	Size         int64     `json:"size" doc:"bytes"`
	Width        int       `json:"width,omitempty"`
	Height       int       `json:"height,omitempty"`
	Title        string    `json:"title"`
	Description  string    `json:"description"`
	Tags         []string  `json:"tags"`
	Caption      string    `json:"caption" doc:"from a vision model when one is configured, else from the file (EXIF description)"`
	FileName     string    `json:"file_name,omitempty"`
	SourceURL    string    `json:"source_url,omitempty" doc:"where it was fetched from"`
	HasThumbnail bool      `json:"has_thumbnail"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// SearchText is what an item is found by: its title, description, tags,
// caption and file name (without its extension's dot).
func (it *ContentItem) SearchText() string {
	return strings.Join([]string{it.Title, it.Description, strings.Join(it.Tags, " "), it.Caption,
		strings.NewReplacer(".", " ", "_", " ", "-", " ").Replace(it.FileName)}, "\n")
}

// SearchTerms are the terms an item is found by in its bot's library
// (IndexTerms of its SearchText). Both stores index an item under these
// and keep the list with it, so that an edit or a deletion removes exactly
// what was indexed.
func (it *ContentItem) SearchTerms() []string { return IndexTerms(it.SearchText()) }

// Bounds of an index term, in runes and bytes: shorter words are mostly
// function words (and would make the longest lists of the index), longer
// ones are not words anyone searches for.
const (
	minIndexTerm = 3
	maxIndexTerm = 64
)

// IndexTerms are the terms a text is indexed and searched under: the stems
// (Stem) of its words of minIndexTerm runes to maxIndexTerm bytes, once
// each, in order. A search for a query's words looks up IndexTerms of the
// query, so that what the index finds is what ranking (by the same stems)
// scores.
func IndexTerms(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range Words(text) {
		if len(w) > maxIndexTerm || utf8.RuneCountInString(w) < minIndexTerm {
			continue
		}
		if t := Stem(w); !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// ContentFilter selects a bot's items: with Terms (words, looked up as
// their IndexTerms), those holding any of them (at most PerTerm each,
// newest first, each item once); without, a page by id, newest first,
// below BeforeID.
type ContentFilter struct {
	BotID     string
	MediaType string // "image" for any image/*, or an exact type; "" any
	Terms     []string
	PerTerm   int
	BeforeID  string
	Limit     int
}

// ContentPatch changes the fields that are non-nil.
type ContentPatch struct {
	Title       *string
	Description *string
	Caption     *string
	Tags        *[]string
}

// Apply checks the patch and applies it to an item.
func (p ContentPatch) Apply(it *ContentItem) error {
	if p.Title != nil {
		it.Title = *p.Title
	}
	if p.Description != nil {
		it.Description = *p.Description
	}
	if p.Caption != nil {
		it.Caption = *p.Caption
	}
	if p.Tags != nil {
		it.Tags = *p.Tags
	}
	return it.Validate("body")
}

// Validate checks what an uploader gives: the text fields' limits, tags
// (trimmed, no empty or duplicate ones).
func (it *ContentItem) Validate(prefix string) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{{"title", it.Title, MaxContentTitle}, {"description", it.Description, MaxContentDescription},
		{"caption", it.Caption, MaxContentDescription}, {"file_name", it.FileName, MaxContentFileName}} {
		if len(f.value) > f.max {
			return FieldError(EINVALID, prefix+"."+f.name, "expected at most %d bytes, got %d", f.max, len(f.value))
		}
		if !utf8.ValidString(f.value) {
			return FieldError(EINVALID, prefix+"."+f.name, "not valid UTF-8")
		}
	}
	if len(it.Tags) > MaxContentTags {
		return FieldError(EINVALID, prefix+".tags", "expected at most %d tags, got %d", MaxContentTags, len(it.Tags))
	}
	seen := map[string]bool{}
	tags := make([]string, 0, len(it.Tags))
	for i, t := range it.Tags {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			return FieldError(EINVALID, prefix+".tags", "tag %d is empty", i)
		case len(t) > MaxContentTag:
			return FieldError(EINVALID, prefix+".tags", "tag %d: expected at most %d bytes", i, MaxContentTag)
		case !utf8.ValidString(t):
			return FieldError(EINVALID, prefix+".tags", "tag %d is not valid UTF-8", i)
		}
		if !seen[strings.ToLower(t)] {
			seen[strings.ToLower(t)] = true
			tags = append(tags, t)
		}
	}
	it.Tags = tags
	return nil
}

// MediaTypeMatches says whether an item's type is what a filter asks for:
// a top-level type ("image") matches its subtypes.
func MediaTypeMatches(itemType, want string) bool {
	return want == "" || itemType == want || strings.HasPrefix(itemType, want+"/") && !strings.Contains(want, "/")
}

// Media statuses (Media.Status) of what users send.
const (
	MediaPending = "pending"
	MediaStored  = "stored"
	MediaFailed  = "failed"
)

// MediaJob fetches the URLs a user message's attached_media names into
// the conversation's media (content.MediaWorker).
type MediaJob struct {
	TenantID       string `json:"tenant_id"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
}

// Kind is the River job kind.
func (MediaJob) Kind() string { return "media" }

// MediaQueue is the queue media fetches run in, apart from replies.
const MediaQueue = "media"

// MediaAttempts is how often a media job is tried (a URL that cannot be
// fetched is recorded as failed, not retried: this covers crashes and
// store errors).
const MediaAttempts = 3

// PlanMedia marks the URLs of a user message's media to fetch (status
// pending) and says whether there are any: bots' media are library
// items or URLs that are the integrator's to serve.
func PlanMedia(m *Message) bool {
	if m.FromBot {
		return false
	}
	pending := false
	for i, a := range m.AttachedMedia {
		if a.URL != "" && a.ContentID == "" {
			m.AttachedMedia[i].Status = MediaPending
			pending = true
		}
	}
	return pending
}
