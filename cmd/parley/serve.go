package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/httpapi"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := cfg.logger(stderr)
	st, err := cfg.openStore(ctx, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	tenant, err := st.EnsureTenant(ctx, defaultTenant)
	if err != nil {
		return err
	}
	if cfg.BootstrapToken != "" {
		if _, err := st.CreateToken(ctx, tenant.ID, "bootstrap", true, parley.HashToken(cfg.BootstrapToken)); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := httpapi.New(httpapi.Config{Store: st, Logger: logger, Version: version, DefaultTenantID: tenant.ID, Registry: reg})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: nil, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	store := "sqlite"
	if cfg.DatabaseURL != "" {
		store = "postgres"
	}
	logger.Info("parley listening", "addr", ln.Addr().String(), "store", store, "version", version)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
