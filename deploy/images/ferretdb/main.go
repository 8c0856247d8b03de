// Command ferretdb runs FerretDB v1 with its embedded SQLite backend: the
// MongoDB-wire server used where no mongod can be had (our machines, CI and
// the local "mongo" image). Flags mirror the few mongod options we rely on.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"), "TCP address to listen on")
	dataDir := flag.String("data", envOr("FERRETDB_DATA_DIR", "/data/db"), "directory for the SQLite databases")
	// SQLite's synchronous setting. FerretDB runs SQLite in WAL mode, where
	// "normal" skips the fsync on every commit: a committed write survives a
	// killed process or container, and only a power loss or kernel crash can
	// roll back the last commits, as with mongod's default write concern (its
	// journal is flushed every 100 ms). "full" (SQLite's default) fsyncs each
	// commit; it held each write transaction long enough here that the
	// replicas' concurrent inserts collided, and SQLite's busy handler then
	// sleeps in steps of 1 to 100 ms: with three writers, insert p99 went from
	// about 7 ms to 35 ms on an idle machine.
	synchronous := flag.String("synchronous", envOr("FERRETDB_SYNCHRONOUS", "normal"), "SQLite synchronous setting: normal, full or extra")
	flag.Parse()
	switch *synchronous {
	case "normal", "full", "extra":
	default:
		fail(fmt.Errorf("-synchronous (FERRETDB_SYNCHRONOUS) must be normal, full or extra, not %q", *synchronous))
	}

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fail(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		fail(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		fail(err)
	}

	// SIGTERM from docker stop / the test harness ends Run cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(os.Stderr, "ferretdb listening on %s, data in %s\n", *addr, abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fail(err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ferretdb:", err)
	os.Exit(1)
}
