// Package pgtest gives tests their own PostgreSQL schema on the server named
// by PARLEY_TEST_POSTGRES_URL (scripts/test.sh starts one on loopback).
package pgtest

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/parley-chat/parley"
)

// URL returns the test server's URL. Without one the test is skipped on a
// developer's machine and fails on CI, where PostgreSQL is required.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("PARLEY_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PARLEY_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh")
		}
		t.Skip("PARLEY_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
	}
	return url
}

// Schema returns a fresh schema name, dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	url := URL(t)
	name := "t_" + strings.ReplaceAll(parley.NewID(), "-", "")
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("pgtest: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	return name
}

// SchemaURL creates a fresh schema and returns the server's URL with its
// search_path set to it, for processes (the real binary) that take a URL.
func SchemaURL(t testing.TB) string {
	t.Helper()
	url := URL(t)
	name := Schema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + name
}

// Pooled creates a fresh database, dropped when the test ends, and returns
// its URL through PgBouncer in transaction mode (PARLEY_TEST_PGBOUNCER_URL,
// started by scripts/test.sh, with DBNAME where the database's name goes)
// and its direct URL. A database, not a schema: a pooler does not pass
// search_path on. Without PgBouncer the test is skipped on a developer's
// machine and fails on CI.
func Pooled(t testing.TB) (pooled, direct string) {
	t.Helper()
	server := URL(t)
	bouncer := os.Getenv("PARLEY_TEST_PGBOUNCER_URL")
	if bouncer == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PARLEY_TEST_PGBOUNCER_URL is not set: run the tests with scripts/test.sh")
		}
		t.Skip("PARLEY_TEST_PGBOUNCER_URL is not set (scripts/test.sh sets it when pgbouncer is installed)")
	}
	name := "t_" + strings.ReplaceAll(parley.NewID(), "-", "")
	ctx := context.Background()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE: PgBouncer still holds sessions to it.
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	u, err := neturl.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return strings.Replace(bouncer, "DBNAME", name, 1), u.String()
}
