package main_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser starts Debian's chromium, headless, for a test (see tool).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 5*time.Minute) // CI runs every package's tests at once on two cores
	t.Cleanup(cancel)
	return ctx
}

// TestConsole drives the web console in a real browser against the real
// binary: sign in, find a conversation of 1,000 messages, open it, watch a
// reply to a new message appear live, send one from the console.
func TestConsole(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := start(t, "PARLEY_DATA_DIR="+t.TempDir(), "PARLEY_DATABASE_URL=")
	status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1", "name": "Helper"})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	status, body, err := s.call("POST", "/api/conversations", map[string]any{"bot_id": "bot-1", "user_id": "ana",
		"create_user_if_not_exists": true, "platform": "web"})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	conv := body["conversation"].(map[string]any)["id"].(string)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 1000; i += 8 {
				status, _, err := s.call("POST", "/api/conversations/"+conv+"/messages",
					map[string]any{"message": map[string]any{"text": fmt.Sprintf("history %d", i), "from_bot": true}})
				if err != nil || status != 201 {
					t.Errorf("seed: %v %d", err, status)
					return
				}
			}
		}()
	}
	wg.Wait()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", "wrong-token"),
		chromedp.Click(`#signin button[type="submit"]`), // a click fires the form's submit event; form.submit() would not
		chromedp.WaitVisible(`//p[@id="signin-error"][contains(., "not valid")]`),
		chromedp.SetValue("#token", s.token),
		chromedp.Click(`#signin button[type="submit"]`), // a click fires the form's submit event; form.submit() would not
		chromedp.WaitVisible(`//table[@aria-label="Conversations"]//a[text()="`+conv+`"]`),
	))
	// Signed in (the token is in this tab's session), a page load shows the
	// list by itself: how long it takes, from the navigation's start.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(),
		chromedp.WaitVisible(`//table[@aria-label="Conversations"]//a[text()="`+conv+`"]`)))
	firstList, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.__parleyFirstList`))
	require.NoError(t, err)
	t.Logf("page load to the first conversation list: %.0f ms", firstList)
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input,textarea,select")]
		.filter(e => !e.closest("[hidden]") && !document.querySelector("label[for='"+e.id+"']")).map(e => e.id || e.name)`))
	require.NoError(t, err)
	require.Empty(t, unlabelled, "every field has a label")

	// The conversation: its newest messages, then a reply made while it is open.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`//a[text()="`+conv+`"]`),
		chromedp.WaitVisible(`//ol[@id="history"]/li[@data-seq="1000"]`),
		chromedp.WaitVisible(`//p[@id="live"][text()="live"]`),
	))
	last, err := chromedp.Run(ctx, chromedp.Text(`//ol[@id="history"]/li[last()]`))
	require.NoError(t, err)
	require.Contains(t, last, "history")
	// A memory of the user, which the reply's context then names.
	status, body, err = s.call("POST", "/api/users/ana/memories", map[string]any{"bot_id": "bot-1", "kind": "pet", "text": "Pet dog: Rufo"})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	petID := body["memory"].(map[string]any)["id"].(string)
	status, _, err = s.call("POST", "/api/conversations/"+conv+"/messages",
		map[string]any{"message": map[string]any{"text": "is anyone there?", "from_bot": false}})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(`//ol[@id="history"]/li[contains(@class,"bot")][contains(., "is anyone there?")]`)))
	reply, err := chromedp.Run(ctx, chromedp.Text(`//ol[@id="history"]/li[contains(@class,"bot")][last()]`))
	require.NoError(t, err)
	require.Contains(t, reply, "Offline reply", "the bot's reply appeared without a reload")
	if path := os.Getenv("PARLEY_CONSOLE_SCREENSHOT"); path != "" { // the README's picture
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
	}

	// Its context, then a message from the console as the bot.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`//ol[@id="history"]/li[contains(@class,"bot")][last()]//button`),
		chromedp.WaitVisible(`//table[@aria-label="Context parts"]`)))
	parts, err := chromedp.Run(ctx, chromedp.Text(`//table[@aria-label="Context parts"]`))
	require.NoError(t, err)
	require.Contains(t, parts, "persona")
	require.Contains(t, parts, petID, "the memory the reply used, by its id")
	status, _, err = s.call("DELETE", "/api/memories/"+petID, nil)
	require.NoError(t, err)
	require.Equal(t, 204, status)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys("#compose", "an operator here"),
		chromedp.SetValue("#as", "bot"),
		chromedp.Click(`form.composer button[type="submit"]`),
		chromedp.WaitVisible(`//ol[@id="history"]/li[contains(., "an operator here")]`),
	))
	status, body, err = s.call("GET", "/api/conversations/"+conv+"/messages?order=desc&limit=1", nil)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	newest := body["messages"].([]any)[0].(map[string]any)
	require.Equal(t, "an operator here", newest["text"])
	require.Equal(t, true, newest["from_bot"])

	// The user's memories: added, corrected, its history, forgotten.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`//div[@class="convhead"]//button[text()="Memories"]`),
		chromedp.WaitVisible(`#m-new`),
		chromedp.SetValue("#m-new-kind", "place"),
		chromedp.SendKeys("#m-new", "Lives in Lisbon"),
		chromedp.Click(`//form[@aria-label="Add a memory"]//button[@type="submit"]`),
		chromedp.WaitVisible(`//ul[@id="memories"]/li[contains(., "Lives in Lisbon")]`),
	))
	memories := func() []any {
		status, body, err := s.call("GET", "/api/conversations/"+conv+"/memories", nil)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		return body["memories"].([]any)
	}
	ms := memories()
	require.Len(t, ms, 1)
	mem := ms[0].(map[string]any)
	require.Equal(t, "place", mem["kind"])
	memID := mem["id"].(string)
	li := `//ul[@id="memories"]/li[@data-memory="` + memID + `"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(li+`//button[text()="Edit"]`),
		chromedp.WaitVisible(`#m-text-`+memID),
		chromedp.SetValue(`#m-text-`+memID, "Lives in Porto"),
		chromedp.Click(li+`//button[@type="submit"]`),
		chromedp.WaitVisible(`//ul[@id="memories"]/li[contains(., "Lives in Porto")]`),
		chromedp.Click(li+`//button[text()="History"]`),
		chromedp.WaitVisible(li+`//ol[@aria-label="Earlier versions"]/li[contains(., "Lives in Lisbon")]`),
	))
	require.Equal(t, "Lives in Porto", memories()[0].(map[string]any)["text"])
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(li+`//button[text()="Forget"]`),
		chromedp.WaitVisible(li+`//button[text()="Click again to forget"]`),
	))
	require.Len(t, memories(), 1, "one click does not forget")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(li+`//button[text()="Click again to forget"]`),
		chromedp.WaitNotPresent(li),
	))
	require.Empty(t, memories())

	// The content library: a file uploaded, described, deleted.
	img := filepath.Join(t.TempDir(), "red.png")
	var pngBytes bytes.Buffer
	require.NoError(t, png.Encode(&pngBytes, image.NewRGBA(image.Rect(0, 0, 40, 30))))
	require.NoError(t, os.WriteFile(img, pngBytes.Bytes(), 0o644))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/#/content?bot_id=bot-1"),
		chromedp.WaitVisible(`#c-file`),
		chromedp.SetUploadFiles(`#c-file`, []string{img}),
		chromedp.Click(`//form[@aria-label="Upload a file"]//button[@type="submit"]`),
		chromedp.WaitVisible(`//figure[contains(., "40×30")]`),
	))
	items := func() []any {
		status, body, err := s.call("GET", "/api/content?bot_id=bot-1", nil)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		return body["items"].([]any)
	}
	its := items()
	require.Len(t, its, 1)
	itemID := its[0].(map[string]any)["id"].(string)
	fig := `//figure[@data-content="` + itemID + `"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(fig+`//button[text()="Edit"]`),
		chromedp.WaitVisible(`#c-title-`+itemID),
		chromedp.SetValue(`#c-title-`+itemID, "Empty canvas"),
		chromedp.SetValue(`#c-tags-`+itemID, "art, blank"),
		chromedp.Click(fig+`//button[@type="submit"]`),
		chromedp.WaitVisible(fig+`//strong[text()="Empty canvas"]`),
	))
	edited := items()[0].(map[string]any)
	require.Equal(t, "Empty canvas", edited["title"])
	require.Equal(t, []any{"art", "blank"}, edited["tags"])
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(fig+`//button[text()="Delete"]`),
		chromedp.Click(fig+`//button[text()="Click again to delete"]`),
		chromedp.WaitNotPresent(fig),
	))
	require.Empty(t, items())

	// Bots, for an admin.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`//nav//a[text()="Bots"]`),
		chromedp.WaitVisible(`//table[@aria-label="Bots"]`)))
	bots, err := chromedp.Run(ctx, chromedp.Text(`//table[@aria-label="Bots"]`))
	require.NoError(t, err)
	require.True(t, strings.Contains(bots, "bot-1") && strings.Contains(bots, "Helper"), bots)
}
