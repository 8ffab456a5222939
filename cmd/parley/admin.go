package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/compat"
)

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: parley token create [--tenant NAME] [--admin] [--name NAME]")
	}
	var cfg config
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.storeFlags(fs)
	tenantName := fs.String("tenant", defaultTenant, "tenant of the token (created when new)")
	admin := fs.Bool("admin", false, "an admin token manages tokens, bots and (default tenant) tenants")
	name := fs.String("name", "cli", "a label for the token")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, tenant, err := cfg.openTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, hash := parley.NewToken()
	if _, err := st.CreateToken(ctx, tenant.ID, *name, *admin, hash); err != nil {
		return err
	}
	// The token alone on stdout, so that scripts can capture it.
	fmt.Fprintln(stdout, secret)
	return nil
}

func botCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return fmt.Errorf("usage: parley bot create --id ID [--name --persona --language --webhook] | parley bot list")
	}
	var cfg config
	fs := flag.NewFlagSet("bot "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.storeFlags(fs)
	tenantName := fs.String("tenant", defaultTenant, "tenant of the bot")
	var b parley.Bot
	if args[0] == "create" {
		fs.StringVar(&b.ID, "id", "", "the bot's id, e.g. bot-456 (required)")
		fs.StringVar(&b.Name, "name", "", "display name")
		fs.StringVar(&b.Persona, "persona", "", "system prompt")
		fs.StringVar(&b.Language, "language", "", "default language, e.g. es")
		fs.StringVar(&b.Webhook, "webhook", "", "default webhook URL")
	}
	server := fs.String("url", "", "a running server to ask instead of opening the store (with --token or PARLEY_TOKEN: the token's tenant)")
	token := fs.String("token", os.Getenv("PARLEY_TOKEN"), "an admin API token, with --url (PARLEY_TOKEN)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if *server != "" {
		return remoteBot(ctx, &client.Client{BaseURL: *server, Token: *token}, args[0], b, enc)
	}
	st, tenant, err := cfg.openTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
	defer st.Close()
	if args[0] == "list" {
		after := ""
		for {
			bots, err := st.ListBots(ctx, tenant.ID, after, parley.MaxPageLimit)
			if err != nil {
				return err
			}
			for _, b := range bots {
				if err := enc.Encode(b); err != nil {
					return err
				}
			}
			if len(bots) < parley.MaxPageLimit {
				return nil
			}
			after = bots[len(bots)-1].ID
		}
	}
	if b.ID == "" {
		return fmt.Errorf("--id is required")
	}
	created, err := st.CreateBot(ctx, tenant.ID, &b)
	if err != nil {
		return err
	}
	return enc.Encode(created)
}

// remoteBot creates or lists bots through a server's API.
func remoteBot(ctx context.Context, c *client.Client, verb string, b parley.Bot, enc *json.Encoder) error {
	if c.Token == "" {
		return fmt.Errorf("--url needs a token (--token or PARLEY_TOKEN)")
	}
	if verb == "list" {
		cursor := ""
		for {
			bots, next, err := c.Bots(ctx, cursor, parley.MaxPageLimit)
			if err != nil {
				return err
			}
			for _, b := range bots {
				if err := enc.Encode(b); err != nil {
					return err
				}
			}
			if next == "" {
				return nil
			}
			cursor = next
		}
	}
	if b.ID == "" {
		return fmt.Errorf("--id is required")
	}
	created, err := c.CreateBot(ctx, client.Bot{ID: b.ID, Name: b.Name, Persona: b.Persona, Language: b.Language, Webhook: b.Webhook})
	if err != nil {
		return err
	}
	return enc.Encode(created)
}

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.storeFlags(fs)
	tenantName := fs.String("tenant", defaultTenant, "tenant to import into")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley import [--tenant NAME] FILE.jsonl|-\n\nEach line: a V1 body (conversation_id, bot_id, user_id, messages, message, ...) or a conversation of parley export.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	in := io.Reader(os.Stdin)
	size := int64(-1)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	read := &countingReader{r: in}
	st, tenant, err := cfg.openTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := newProgress(stderr, "import", size, true)
	sum, err := compat.Import(ctx, st, tenant.ID, read, stderr, func(s compat.Summary) {
		bar.Set(read.n, fmt.Sprintf("%d records read, %d imported, %d up to date, %d bad", s.Records, s.Imported, s.UpToDate, s.Bad))
	})
	bar.Finish()
	fmt.Fprintf(stdout, "imported %d of %d records (%d messages appended), %d already up to date, %d bad\n",
		sum.Imported, sum.Records, sum.Messages, sum.UpToDate, sum.Bad)
	if err != nil {
		return err
	}
	if sum.Bad > 0 {
		return fmt.Errorf("%d bad records (listed above): fix them and run the import again", sum.Bad)
	}
	return nil
}

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.storeFlags(fs)
	tenantName := fs.String("tenant", defaultTenant, "tenant to export")
	format := fs.String("format", "v3", "v3 (conversation and messages) or v1 (V1 bodies without message)")
	bot := fs.String("bot", "", "only this bot's conversations")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "v1" && *format != "v3" {
		return fmt.Errorf("--format is v1 or v3")
	}
	st, tenant, err := cfg.openTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := newProgress(stderr, "export", -1, false)
	out := &lineCounter{w: stdout, on: func(n int64) { bar.Set(n, fmt.Sprintf("%d conversations written", n)) }}
	n, err := compat.Export(ctx, st, tenant.ID, *bot, *format, out)
	bar.Finish()
	fmt.Fprintf(stderr, "exported %d conversations\n", n)
	return err
}

// openTenant opens the store for a CLI command (insert-only queue, no
// logs) and the tenant it names, created when new.
func (c *config) openTenant(ctx context.Context, name string) (store, *parley.Tenant, error) {
	st, err := c.openStore(ctx, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	tenant, err := st.EnsureTenant(ctx, name)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, tenant, nil
}
