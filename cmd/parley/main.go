// Command parley runs the Parley conversation server and its operator tools.
//
//	parley serve                       run the server
//	parley token create [--admin]      print a new API token
//	parley bot create --id bot-456     create a bot
//	parley bot list                    list bots
//	parley import FILE.jsonl           import V1 histories or exported conversations
//	parley export [--format v1|v3]     write every conversation as JSON lines
//	parley bench                       measure the server (scripts/bench.sh)
//	parley version                     print the version
//
// Every command reads the same configuration: flags, or PARLEY_* variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "parley:", err)
		}
		os.Exit(2)
	}
}

const usage = `parley — a self-hosted conversation server for AI chat bots

Usage:
  parley serve                  run the server (SQLite in ./parley-data unless PARLEY_DATABASE_URL is set)
  parley token create           create an API token and print it (--tenant NAME, --admin, --name)
  parley bot create --id ID     create a bot (--name, --persona, --language, --webhook, --tenant;
                                --url and --token: through a running server)
  parley bot list               list a tenant's bots (--tenant; or --url and --token)
  parley import FILE.jsonl      import V1 histories or exports, idempotently (--tenant)
  parley export                 write conversations as JSON lines (--format v1|v3, --bot, --tenant)
  parley chat --bot ID          chat with a bot through a server (--url, --token, --user; PARLEY_URL, PARLEY_TOKEN)
  parley bench                  measure appends, history pages and search (see README)
  parley version                print the version

Run "parley COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "token":
		return tokenCmd(ctx, rest, stdout, stderr)
	case "bot":
		return botCmd(ctx, rest, stdout, stderr)
	case "import":
		return importCmd(ctx, rest, stdout, stderr)
	case "export":
		return exportCmd(ctx, rest, stdout, stderr)
	case "bench":
		return benchCmd(ctx, rest, stdout, stderr)
	case "chat":
		return chatCmd(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
