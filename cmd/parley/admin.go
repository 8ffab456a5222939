package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/parley-chat/parley"
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
	st, err := cfg.openStore(ctx, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	tenant, err := st.EnsureTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
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
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := cfg.openStore(ctx, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	tenant, err := st.EnsureTenant(ctx, *tenantName)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
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
