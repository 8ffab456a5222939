package reply

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// Library finds a bot's content library items for a reply (the content
// package's Library). Without one, replies carry no media.
type Library interface {
	Search(ctx context.Context, tenantID, botID, query, mediaType string, offset, limit int) ([]parley.ContentItem, error)
}

// mediaOffered is how many library items a model is offered per reply.
const mediaOffered = 5

// mediaTool is the function a model calls to send library items.
const mediaTool = "send_media"

// mediaWords ask for a picture (English and Spanish): the built-in
// responder sends the best match of the rest of the message when it has
// one of them.
var mediaWords = map[string]bool{"photo": true, "photos": true, "picture": true, "pictures": true, "pic": true,
	"pics": true, "image": true, "images": true, "selfie": true, "foto": true, "fotos": true, "imagen": true,
	"imágenes": true, "imagenes": true}

// asksForMedia returns what a message asks a picture of ("" if it asks
// for none): its words without the asking ones.
func asksForMedia(text string) string {
	words := parley.Words(text)
	asked := false
	var rest []string
	for _, w := range words {
		if mediaWords[w] {
			asked = true
			continue
		}
		rest = append(rest, w)
	}
	if !asked {
		return ""
	}
	return strings.Join(rest, " ")
}

// mediaOf is how a reply carries a library item.
func mediaOf(it parley.ContentItem) parley.Media {
	return parley.Media{URL: "/api/content/" + it.ID + "/file", MediaType: it.MediaType, ContentID: it.ID}
}

// describeItem is a library item in a line, as a model is offered it.
func describeItem(it parley.ContentItem) string {
	parts := []string{}
	for _, s := range []string{it.Title, it.Caption, it.Description} {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			parts = append(parts, clip(s, 200))
		}
	}
	if len(it.Tags) > 0 {
		parts = append(parts, "tags: "+strings.Join(it.Tags, ", "))
	}
	return fmt.Sprintf("%s (%s): %s", it.ID, it.MediaType, strings.Join(parts, " — "))
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// sendMediaTool offers ids to the model: it may call the tool with some
// of them (the schema allows no others).
func sendMediaTool(items []parley.ContentItem) llm.Tool {
	ids := make([]any, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return llm.Tool{Name: mediaTool,
		Description: "Send items of your media library with your reply, when the user would want to see them. " +
			"Call it with the ids of the items to send, then write your reply.",
		Parameters: map[string]any{"type": "object", "additionalProperties": false, "required": []any{"content_ids"},
			"properties": map[string]any{"content_ids": map[string]any{"type": "array", "maxItems": len(items),
				"items": map[string]any{"type": "string", "enum": ids}}}}}
}

// chosenMedia are the offered items a model's calls name, once each, in
// the order named; calls of other tools and ids not offered are ignored
// (a model may write anything).
func chosenMedia(calls []llm.ToolCall, offered []parley.ContentItem) []parley.ContentItem {
	var out []parley.ContentItem
	for _, c := range calls {
		if c.Name != mediaTool {
			continue
		}
		var args struct {
			ContentIDs []string `json:"content_ids"`
		}
		if json.Unmarshal([]byte(c.Arguments), &args) != nil {
			continue
		}
		for _, id := range args.ContentIDs {
			i := slices.IndexFunc(offered, func(it parley.ContentItem) bool { return it.ID == id })
			if i >= 0 && !slices.ContainsFunc(out, func(it parley.ContentItem) bool { return it.ID == id }) {
				out = append(out, offered[i])
			}
		}
	}
	return out
}
