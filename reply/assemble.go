package reply

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/llm"
)

// DefaultBudget is the context token budget of bots that set none.
const DefaultBudget = 4000

// Input is everything context assembly reads.
type Input struct {
	Bot          parley.Bot
	Conversation parley.Conversation
	User         parley.User
	// Memories are the user's long-term memories, best first (Retrieval).
	Memories   []parley.Memory
	Summary    string // rolling summary of messages up to SummarySeq
	SummarySeq int64
	// History is the conversation's newest messages, oldest first, ending
	// with the messages being answered.
	History []parley.Message
	// Retrieved are earlier messages relevant to the user's words, best
	// first (Retrieval).
	Retrieved []parley.Message
	// AnsweredSeq: user messages after it are the ones being answered.
	AnsweredSeq int64
	// Media are library items the model may send (the send_media tool).
	Media []parley.ContentItem
}

// Part is one part of an assembled context, as operators inspect it.
type Part struct {
	Name   string `json:"name"`
	Tokens int    `json:"tokens"`
	Items  int    `json:"items,omitempty"`
	// IDs are the memories a memories part holds; Seqs the messages a
	// retrieved part holds: which ones the reply used.
	IDs  []string `json:"ids,omitempty"`
	Seqs []int64  `json:"seqs,omitempty"`
}

// retrievedShare is the part of the budget the memories and the retrieved
// messages may take, each: a long one does not crowd out the history.
const retrievedShare = 8 // one eighth

// Context is what the model is sent, with its accounting.
type Context struct {
	Messages []llm.Message `json:"messages"`
	Parts    []Part        `json:"parts"`
	Tokens   int           `json:"tokens"`
	Budget   int           `json:"budget"`
	// WindowStart is the seq of the oldest message sent verbatim; older
	// messages reach the model only through the summary.
	WindowStart int64 `json:"window_start"`
	// Unsummarised are messages older than the window and newer than the
	// summary: the summary must take them in.
	Unsummarised []parley.Message `json:"-"`
	Hints        llm.Hints        `json:"-"`

	systemTexts []string
	// seqs[i] is the seq of the history message Messages[i] renders
	// verbatim (describe), 0 for the others: what the stored form of the
	// context refers to instead of repeating the text (marshalStored).
	seqs []int64
}

// Assemble builds the context of a reply within the bot's token budget, in
// this order of priority: (1) persona and language, (2) the user's
// key-value context, (3) memories, (4) the rolling summary, (5) earlier
// messages retrieved, (6) the newest messages that fit; memories and
// retrieved messages each within an eighth of the budget. The messages
// being answered are always included (cut if they alone exceed the
// budget).
func Assemble(in Input) Context {
	budget := in.Bot.Model.ContextTokens
	if budget <= 0 {
		budget = DefaultBudget
	}
	c := Context{Budget: budget}
	lang := firstNonEmpty(in.Conversation.Language, in.User.Language, in.Bot.Language)

	var sys strings.Builder
	if in.Bot.Persona != "" {
		sys.WriteString(in.Bot.Persona)
	} else {
		fmt.Fprintf(&sys, "You are %s, a helpful assistant in a chat conversation.", firstNonEmpty(in.Bot.Name, "a chat bot"))
	}
	if lang != "" {
		fmt.Fprintf(&sys, "\n\nAnswer in the language with the code %q, whatever language earlier messages used.", lang)
	}
	sys.WriteString("\nKeep answers short, as in a chat. Separate chat bubbles with a blank line.")
	c.add("persona", 1, sys.String())

	if len(in.User.KV) > 0 {
		keys := make([]string, 0, len(in.User.KV))
		for k := range in.User.KV {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("What you know about the user:")
		for _, k := range keys {
			fmt.Fprintf(&b, "\n- %s: %v", k, in.User.KV[k])
		}
		c.add("user_context", len(keys), b.String())
	}
	// Memories and retrieved messages, best first, while they fit their
	// share.
	var texts, ids []string
	left := budget / retrievedShare
	for _, m := range in.Memories {
		if left -= EstimateTokens(m.Text) + 1; left < 0 {
			break
		}
		texts, ids = append(texts, m.Text), append(ids, m.ID)
	}
	if len(texts) > 0 {
		c.add("memories", len(texts), "What you remember about the user:\n- "+strings.Join(texts, "\n- "))
		c.Parts[len(c.Parts)-1].IDs = ids
	}
	if in.Summary != "" {
		c.add("summary", 1, "Summary of the conversation so far:\n"+in.Summary)
	}
	var retrieved []parley.Message
	left = budget / retrievedShare
	for _, m := range in.Retrieved {
		if left -= EstimateTokens(m.Text) + 2; left < 0 {
			break
		}
		retrieved = append(retrieved, m)
	}
	if len(retrieved) > 0 {
		var b strings.Builder
		b.WriteString("Earlier messages that may be relevant:")
		seqs := make([]int64, len(retrieved))
		for i, m := range retrieved {
			fmt.Fprintf(&b, "\n- %s: %s", speaker(m), m.Text)
			seqs[i] = m.Seq
		}
		c.add("retrieved", len(retrieved), b.String())
		c.Parts[len(c.Parts)-1].Seqs = seqs
	}
	if len(in.Media) > 0 {
		lines := make([]string, len(in.Media))
		for i, it := range in.Media {
			lines[i] = describeItem(it)
		}
		c.add("media", len(in.Media), "Items of your media library you can send with the "+mediaTool+" tool:\n- "+strings.Join(lines, "\n- "))
	}
	system := strings.Join(c.systemTexts, "\n\n")
	c.Messages = []llm.Message{{Role: llm.RoleSystem, Content: system}}
	c.seqs = []int64{0}

	// Newest messages, newest first, while they fit.
	left = budget - c.Tokens
	var window []llm.Message
	var windowSeqs []int64
	c.WindowStart = 0
	recentTokens := 0
	var answering []string
	for i := len(in.History) - 1; i >= 0; i-- {
		m := in.History[i]
		text := describe(m)
		t := EstimateTokens(text) + messageOverhead
		pending := !m.FromBot && m.Seq > in.AnsweredSeq
		seq := m.Seq
		if t > left {
			if !pending || len(window) > 0 {
				break
			}
			text = truncateTokens(text, max(1, left-messageOverhead)) // the message being answered must go
			t = EstimateTokens(text) + messageOverhead
			seq = 0 // not verbatim
		}
		left -= t
		recentTokens += t
		role := llm.RoleUser
		if m.FromBot {
			role = llm.RoleAssistant
		}
		window = append(window, llm.Message{Role: role, Content: text})
		windowSeqs = append(windowSeqs, seq)
		c.WindowStart = m.Seq
		if pending {
			answering = append(answering, m.Text)
		}
	}
	slices.Reverse(window)
	slices.Reverse(windowSeqs)
	c.Messages = append(c.Messages, window...)
	c.seqs = append(c.seqs, windowSeqs...)
	c.Parts = append(c.Parts, Part{Name: "recent", Tokens: recentTokens, Items: len(window)})
	c.Tokens += recentTokens
	for _, m := range in.History {
		if m.Seq > in.SummarySeq && m.Seq < c.WindowStart {
			c.Unsummarised = append(c.Unsummarised, m)
		}
	}
	for i, j := 0, len(answering)-1; i < j; i, j = i+1, j-1 {
		answering[i], answering[j] = answering[j], answering[i]
	}
	retrievedTexts := make([]string, 0, len(retrieved))
	for _, m := range retrieved {
		retrievedTexts = append(retrievedTexts, m.Text)
	}
	c.Hints = llm.Hints{BotName: firstNonEmpty(in.Bot.Name, in.Bot.ID), Language: lang,
		UserText: strings.Join(answering, " "), Retrieved: retrievedTexts, KV: in.User.KV}
	c.systemTexts = nil
	return c
}

// add accounts a system part.
func (c *Context) add(name string, items int, text string) {
	t := EstimateTokens(text)
	c.systemTexts = append(c.systemTexts, text)
	c.Parts = append(c.Parts, Part{Name: name, Tokens: t, Items: items})
	c.Tokens += t
}

// describe renders a message for the model, media described in words.
func describe(m parley.Message) string {
	text := m.Text
	for _, a := range m.AttachedMedia {
		switch {
		case a.URL != "":
			text += fmt.Sprintf("\n[attached %s: %s]", firstNonEmpty(a.MediaType, "file"), a.URL)
		case a.ContentID != "":
			text += fmt.Sprintf("\n[attached library item %s]", a.ContentID)
		}
	}
	return strings.TrimSpace(text)
}

func speaker(m parley.Message) string {
	if m.FromBot {
		return "Bot"
	}
	return "User"
}

// truncateTokens keeps the start of s within about n tokens.
func truncateTokens(s string, n int) string {
	if EstimateTokens(s) <= n {
		return s
	}
	r := []rune(s)
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if EstimateTokens(string(r[:mid])) <= n {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo]) + "…"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
