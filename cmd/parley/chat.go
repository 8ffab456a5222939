package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
)

// chatCmd is a terminal chat with a bot through a server: the newest
// messages on start, replies appearing as they are written.
func chatCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("PARLEY_URL", "http://127.0.0.1:8080"), "the server (PARLEY_URL)")
	token := fs.String("token", os.Getenv("PARLEY_TOKEN"), "an API token (PARLEY_TOKEN)")
	bot := fs.String("bot", "", "the bot to chat with")
	user := fs.String("user", envOr("USER", "terminal"), "who you are to the bot")
	history := fs.Int("history", 20, "messages shown on start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bot == "" || *token == "" {
		return errors.New("chat: --bot and a token (--token or PARLEY_TOKEN) are required")
	}
	c := &client.Client{BaseURL: *url, Token: *token}
	conv, err := c.Conversation(ctx, *bot, *user)
	if err != nil {
		return err
	}
	past, err := c.Latest(ctx, conv.ID, *history)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &chat{client: c, conv: conv, bot: *bot, seen: map[int64]bool{}}
	m.add(past...)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithOutput(stdout))
	go func() { // the live stream, resumed from the last event seen
		var last int64
		for ctx.Err() == nil {
			var err error
			if last, err = c.Events(ctx, conv.ID, last, func(ev client.Event) { p.Send(ev) }); err != nil {
				p.Send(errMsg{err})
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	_, err = p.Run()
	if errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	return err
}

// chat is the terminal chat's state (a bubbletea model).
type chat struct {
	client        *client.Client
	conv          *parley.Conversation
	bot           string
	msgs          []parley.Message
	seen          map[int64]bool
	input         []rune
	writing       string // the reply being written
	status        string
	width, height int
}

type sentMsg struct{ m *parley.Message }
type errMsg struct{ err error }

func (c *chat) add(ms ...parley.Message) {
	for _, m := range ms {
		if !c.seen[m.Seq] {
			c.seen[m.Seq] = true
			c.msgs = append(c.msgs, m)
		}
	}
	slices.SortFunc(c.msgs, func(a, b parley.Message) int { return int(a.Seq - b.Seq) })
}

func (c *chat) Init() tea.Cmd { return nil }

func (c *chat) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.width, c.height = msg.Width, msg.Height
	case tea.KeyMsg:
		switch msg.Type {
		case tea.KeyCtrlC, tea.KeyEsc:
			return c, tea.Quit
		case tea.KeyEnter:
			text := strings.TrimSpace(string(c.input))
			if text == "" {
				return c, nil
			}
			c.input, c.status = nil, ""
			return c, func() tea.Msg {
				m, err := c.client.Send(context.Background(), c.conv.ID, text, false)
				if err != nil {
					return errMsg{err}
				}
				return sentMsg{m}
			}
		case tea.KeyBackspace:
			if len(c.input) > 0 {
				c.input = c.input[:len(c.input)-1]
			}
		case tea.KeyRunes, tea.KeySpace:
			c.input = append(c.input, msg.Runes...)
		}
	case sentMsg:
		c.add(*msg.m)
	case client.Event:
		switch {
		case msg.Delta != nil:
			c.writing += msg.Delta.Text
		case msg.Message != nil:
			c.add(*msg.Message)
			if msg.Message.FromBot {
				c.writing = ""
			}
		case msg.Type == parley.EventReplyFailed:
			c.writing, c.status = "", "the reply failed (see the console for why)"
		}
	case errMsg:
		c.status = msg.err.Error()
	}
	return c, nil
}

func (c *chat) View() string {
	width := max(c.width, 20)
	var lines []string
	for _, m := range c.msgs {
		who := "you"
		if m.FromBot {
			who = c.bot
		}
		for i, b := range m.Bubbles {
			prefix := strings.Repeat(" ", len(who)+2)
			if i == 0 {
				prefix = who + ": "
			}
			lines = append(lines, wrap(prefix, b, width)...)
		}
	}
	if c.writing != "" {
		lines = append(lines, wrap(c.bot+" (writing): ", c.writing, width)...)
	}
	if c.status != "" {
		lines = append(lines, "! "+c.status)
	}
	room := max(c.height-2, 1)
	if len(lines) > room {
		lines = lines[len(lines)-room:]
	}
	return strings.Join(lines, "\n") + "\n" + strings.Repeat("─", width) + "\n> " + string(c.input)
}

// wrap breaks text to width, the first line after prefix, the rest
// indented under it.
func wrap(prefix, text string, width int) []string {
	indent := strings.Repeat(" ", len([]rune(prefix)))
	var out []string
	line := prefix
	for _, w := range strings.Fields(text) {
		if len([]rune(line))+len([]rune(w))+1 > width && strings.TrimSpace(line) != strings.TrimSpace(prefix) {
			out = append(out, line)
			line = indent
		}
		if line != prefix && line != indent {
			line += " "
		}
		line += w
	}
	return append(out, line)
}
