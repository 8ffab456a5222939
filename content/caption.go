package content

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/parley-chat/parley/llm"
)

// ModelCaptioner captions images with a vision model of an
// OpenAI-compatible endpoint (the operator's: PARLEY_VISION_MODEL), sent
// as a data: URL.
type ModelCaptioner struct {
	Provider llm.Provider
	Model    string
}

// captionPrompt asks for what a search would need: what is in the picture.
const captionPrompt = "Describe this image in one sentence for a search index: what it shows, " +
	"the main objects, people, colours, place and any text in it. Answer with the sentence only."

// Caption describes an image in a sentence.
func (c ModelCaptioner) Caption(ctx context.Context, mediaType string, data []byte) (string, error) {
	res, err := c.Provider.Complete(ctx, llm.Request{Model: c.Model, MaxTokens: 120, Messages: []llm.Message{{
		Role: llm.RoleUser, Content: captionPrompt,
		Images: []string{"data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(data)}}}})
	if err != nil {
		return "", fmt.Errorf("content: caption: %w", err)
	}
	return strings.Join(strings.Fields(res.Text), " "), nil
}
