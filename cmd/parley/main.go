// Command parley is the Parley server and its operator tools.
//
//	parley [flags]                         serve (same as "parley serve")
//	parley migrate [flags]                 apply database migrations and exit
//	parley copy-data --to postgres://... [--from sqlite:PATH] [--force]
//	                                       copy the SQLite database into PostgreSQL
//	parley account create NAME [flags]     create an account; prints its id and API key
//	parley token --account ID --user NAME [--role R] [--ttl 1h] [flags]
//	                                       print an access token
//	parley signin-link [--account ID] [--user NAME] [flags]
//	                                       print a one-time console sign-in link
//	parley turn-secret [flags]             print the TURN REST secret (coturn's static-auth-secret)
//	parley copy-blobs [--from URL] --to URL
//	                                       copy uploaded files between blob stores (disk → S3)
//	parley bench chat [bench flags]        measure the chat server (see BENCHMARKS.md)
//	parley loadtest [flags]                Go participants in a server's rooms or channels; forwarded packets, loss, jitter
//	parley version                         print the version (also --version)
//
// Every server setting is a flag, a PARLEY_* variable or a YAML key; see
// "parley --help" and docs/configuration.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/loadtest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const usageHead = `Parley: real-time chat, calls and broadcasts in one binary.

Usage:
  parley [flags]                          serve (same as "parley serve")
  parley migrate [flags]                  apply database migrations and exit
  parley copy-data --to postgres://... [--from sqlite:PATH|DIR] [--force] [flags]
                                          copy the SQLite database (default: data_dir's) into
                                          PostgreSQL, keeping ids and seqs; verified (see --help)
  parley account create NAME [flags]      create an account; prints its id and API key
  parley token --account ID --user NAME [--role owner|agent|member|visitor] [--ttl 1h] [--display-name N] [flags]
                                          print an access token signed by this server
  parley signin-link [--account ID] [--user NAME] [flags]
                                          print a one-time console sign-in link (an owner who
                                          lost their password gets back in with it)
  parley turn-secret [flags]              print the TURN REST shared secret, for an external
                                          coturn's static-auth-secret
  parley copy-blobs [--from URL] --to URL copy uploaded files between blob stores, e.g. a
                                          data directory's into an S3 bucket (--help)
  parley bench chat [--help]              measure the chat server (BENCHMARKS.md)
  parley loadtest [--help]                Go (pion) participants in a server's rooms or
                                          channels: forwarded packets/s, loss, jitter, CPU
  parley version                          print the version, commit and Go version (also --version)

`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		cmd, rest = "version", args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr)
	case "migrate":
		return migrate(rest, stdout, stderr)
	case "copy-data":
		return copyData(rest, stdout, stderr)
	case "account":
		return account(rest, stdout, stderr)
	case "token":
		return token(rest, stdout, stderr)
	case "signin-link":
		return signinLink(rest, stdout)
	case "turn-secret":
		return turnSecret(rest, stdout)
	case "copy-blobs":
		return copyBlobs(rest, stdout)
	case "bench":
		return bench.Main(rest, stdout, stderr)
	case "loadtest":
		return loadtest.Main(rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, app.Version())
		return nil
	case "help":
		fmt.Fprint(stdout, usageHead+config.Usage())
		return nil
	}
	return fmt.Errorf("unknown command %q (try parley --help)", cmd)
}

// loadConfig reads the server settings, printing usage on --help.
func loadConfig(args []string, stdout io.Writer) (config.Config, []string, error) {
	cfg, rest, err := config.Load(args, os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageHead+config.Usage())
		return cfg, nil, err
	}
	if err != nil {
		return cfg, nil, err
	}
	return cfg, rest, cfg.Validate()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig(args, stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	first, err := a.Bootstrap(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	url := cfg.PublicURLOrDefault()
	if err := app.RememberPublicURL(ctx, a.Store, url); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Parley is running: open %s\n", url)
	if first != nil {
		fmt.Fprintf(stdout, "\nFirst start: created account %q (%s).\n", first.Account.Name, first.Account.ID)
		fmt.Fprintf(stdout, "  Console sign-in link (works once, for 24h): %s\n", first.SigninLink)
		fmt.Fprintf(stdout, "  Your chat link:                             %s/chat/%s\n", url, first.Address)
		fmt.Fprintf(stdout, "  API key (shown once; keep it secret):       %s\n\n", first.APIKey)
	}
	return a.Serve(ctx, ln)
}

func migrate(args []string, stdout, _ io.Writer) error {
	cfg, _, err := loadConfig(args, stdout)
	if err != nil {
		return err
	}
	where, err := app.Migrate(context.Background(), cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied to", where)
	return nil
}

func account(args []string, stdout, _ io.Writer) error {
	if len(args) < 2 || args[0] != "create" || strings.HasPrefix(args[1], "-") {
		return errors.New("usage: parley account create NAME [flags]")
	}
	name := args[1]
	cfg, _, err := loadConfig(args[2:], stdout)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	acc, key, err := auth.CreateAccount(ctx, st, name, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "account_id=%s\napi_key=%s\n", acc.ID, key)
	return nil
}

// token prints an access token. Its own flags are picked out of args; the
// rest are server settings (so --data-dir and --secret find the right key).
func token(args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	acct := fs.String("account", "", "account id (required)")
	user := fs.String("user", "", "user name inside the account (required)")
	role := fs.String("role", protocol.RoleMember, "owner, agent, member or visitor")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	display := fs.String("display-name", "", "display name")
	own, rest := splitFlags(args, fs)
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *acct == "" || *user == "" {
		return errors.New("usage: parley token --account ID --user NAME [--role R] [--ttl 1h]")
	}
	ctx := context.Background()
	_, st, a, err := openAuth(ctx, rest, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := a.MintForAccount(ctx, auth.MintRequest{
		AccountID: *acct, User: *user, Role: *role, DisplayName: *display, TTL: *ttl,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// openAuth loads the server settings in args and opens the store and the
// authenticator with the server's secret, for commands that mint tokens
// or links. The caller closes the store.
func openAuth(ctx context.Context, args []string, stdout io.Writer) (config.Config, store.Store, *auth.Authenticator, error) {
	cfg, _, err := loadConfig(args, stdout)
	if err != nil {
		return cfg, nil, nil, err
	}
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	secret, err := app.Secret(ctx, st, cfg)
	if err != nil {
		st.Close()
		return cfg, nil, nil, err
	}
	return cfg, st, auth.New(st, secret, cfg.TokenMaxTTL), nil
}

// splitFlags separates the flags fs defines (with their values) from the rest.
func splitFlags(args []string, fs *flag.FlagSet) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if !strings.HasPrefix(a, "-") || fs.Lookup(name) == nil {
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		if !hasValue && i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, rest
}

// signinLink prints a one-time console sign-in link for an owner or agent:
// by default the first owner of the first account. It is how an owner who
// lost their password gets back in (then sets a new one in the console).
func signinLink(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("signin-link", flag.ContinueOnError)
	acct := fs.String("account", "", "account id (default: the first account)")
	user := fs.String("user", "", "user name in the account (default: its first owner)")
	own, rest := splitFlags(args, fs)
	if err := fs.Parse(own); err != nil {
		return err
	}
	ctx := context.Background()
	cfg, st, a, err := openAuth(ctx, rest, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	if *acct == "" {
		accts, err := st.ListAccounts(ctx)
		if err != nil {
			return err
		}
		if len(accts) == 0 {
			return errors.New("no account yet: start the server once (it creates one)")
		}
		*acct = accts[0].ID
	}
	var u store.User
	if *user == "" {
		owners, err := st.ListUsersByRole(ctx, *acct, protocol.RoleOwner)
		if err != nil {
			return err
		}
		if len(owners) == 0 {
			return fmt.Errorf("account %s has no owner", *acct)
		}
		u = owners[0]
	} else if u, err = st.GetUserByName(ctx, *acct, *user); err != nil {
		return fmt.Errorf("user %q in account %s: %w", *user, *acct, err)
	}
	// The running server's URL, not one derived from this command's flags.
	if cfg.PublicURL == "" {
		if cfg.PublicURL, err = app.RememberedPublicURL(ctx, st); err != nil {
			return err
		}
	}
	link, err := app.SigninLink(ctx, a, cfg, u)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, link)
	return nil
}

// turnSecret prints the TURN REST shared secret, so an external coturn can
// be given it as static-auth-secret and accept the credentials Parley mints.
func turnSecret(args []string, stdout io.Writer) error {
	cfg, _, err := loadConfig(args, stdout)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := app.TURNSecret(ctx, st, cfg.TURNSecret)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}
