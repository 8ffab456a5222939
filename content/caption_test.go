package content_test

import (
	"context"
	"encoding/base64"
	"image/color"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/llm/llmtest"
)

func TestModelCaptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := llmtest.New(t, llmtest.Step{Text: "A plain red square."}, llmtest.Step{Status: 500})
	st := enginetest.Open(t, enginetest.SQLite, enginetest.Options{})
	tenant, err := st.EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	lib := &content.Library{Store: st, Blobs: blob.Dir{Root: t.TempDir()},
		Caption: content.ModelCaptioner{Provider: llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.BaseURL(), MaxRetries: -1}), Model: "vision-1"}}
	red := pngOf(t, 10, 10, color.RGBA{255, 0, 0, 255})
	it, _, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", Data: red, Field: "body.file"})
	require.NoError(t, err)
	require.Equal(t, "A plain red square.", it.Caption)
	sent := srv.Requests()[0]
	require.Equal(t, "vision-1", sent.Model)
	require.Len(t, sent.Messages[0].Images, 1)
	img := sent.Messages[0].Images[0]
	require.True(t, strings.HasPrefix(img, "data:image/png;base64,"), img[:40])
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(img, "data:image/png;base64,"))
	require.NoError(t, err)
	require.Equal(t, red, raw, "the image itself is sent")

	// The same bytes again: the item, and no second request.
	again, created, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", Data: red, Field: "body.file"})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "A plain red square.", again.Caption)
	require.Len(t, srv.Requests(), 1, "the model is asked once per item")

	// A failing model leaves the item without a caption, not unstored.
	blue := pngOf(t, 10, 10, color.RGBA{0, 0, 255, 255})
	it, created, err = lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", Data: blue, Field: "body.file"})
	require.NoError(t, err)
	require.True(t, created)
	require.Empty(t, it.Caption)
}
