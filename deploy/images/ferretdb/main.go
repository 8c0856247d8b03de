// Command ferretdb runs FerretDB v1, the MongoDB-wire server used where no
// mongod can be had (our machines, CI, `make dev` and the local "mongo"
// image). Its default backend is a PostgreSQL of its own, which this command
// initialises, starts and stops (postgres.go); the embedded SQLite backend
// stays selectable. docs/benchmarks.md ("MongoDB-wire stand-in") has the
// measurement behind the choice.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	// The PostgreSQL child gets a parent-death signal, which Linux ties to the
	// thread that started it: keep main on one thread for the whole run.
	runtime.LockOSThread()

	addr := flag.String("listen", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"), "TCP address to listen on")
	dataDir := flag.String("data", envOr("FERRETDB_DATA_DIR", "/data/db"), "data directory (PostgreSQL's cluster in its pgdata/, or the SQLite files)")
	backend := flag.String("backend", envOr("FERRETDB_BACKEND", "postgresql"), "storage: postgresql (a PostgreSQL of its own, or -postgresql-url) or sqlite")
	pgURL := flag.String("postgresql-url", os.Getenv("FERRETDB_POSTGRESQL_URL"), "use this PostgreSQL instead of starting one (postgres://user@host:port/db)")
	pgBin := flag.String("postgresql-bin", os.Getenv("FERRETDB_POSTGRESQL_BIN"), "directory with PostgreSQL's initdb and postgres (found under /usr/lib/postgresql or on PATH by default)")
	// FerretDB holds a PostgreSQL connection for each statement of an update
	// command until the command ends, and one more for each write: with its
	// default pool (50) a few clients sending bulks of updates at once wedge
	// it for good. docs/operations.md says how the pool fits MONGO_POOL_SIZE.
	// Connections are opened on demand, so a large cap costs nothing idle.
	pool := flag.Int("pool", envInt("FERRETDB_POOL", 400), "most PostgreSQL connections FerretDB opens (PostgreSQL's max_connections is set above it)")
	syncCommit := flag.String("synchronous-commit", envOr("FERRETDB_SYNCHRONOUS_COMMIT", "on"), "PostgreSQL's synchronous_commit: on or off (docs/operations.md)")
	// SQLite's synchronous setting. FerretDB runs SQLite in WAL mode, where
	// "normal" skips the fsync on every commit: a committed write survives a
	// killed process or container, and only a power loss or kernel crash can
	// roll back the last commits. "full" fsyncs each commit and makes the
	// replicas' concurrent inserts collide on SQLite's single writer lock.
	synchronous := flag.String("synchronous", envOr("FERRETDB_SYNCHRONOUS", "normal"), "SQLite's synchronous setting: normal, full or extra")
	ping := flag.Bool("ping", false, "only ask the FerretDB on -listen's port for {ping: 1} and exit 0 if it answers ok (the image's healthcheck)")
	flag.Parse()
	if *ping {
		if err := pingFerretDB(*addr); err != nil {
			fail(err)
		}
		return
	}

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fail(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		fail(err)
	}

	// SIGTERM from docker stop / the test harness ends Run cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *addr},
		Handler:  *backend,
	}
	var pg *postgres
	switch *backend {
	case "sqlite":
		switch *synchronous {
		case "normal", "full", "extra":
		default:
			fail(fmt.Errorf("-synchronous (FERRETDB_SYNCHRONOUS) must be normal, full or extra, not %q", *synchronous))
		}
		config.SQLiteURL = "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")"
	case "postgresql":
		if *pool < 1 {
			fail(fmt.Errorf("-pool (FERRETDB_POOL) must be a positive number, not %d", *pool))
		}
		if *pgURL != "" {
			config.PostgreSQLURL = *pgURL
			break
		}
		if *syncCommit != "on" && *syncCommit != "off" {
			fail(fmt.Errorf("-synchronous-commit (FERRETDB_SYNCHRONOUS_COMMIT) must be on or off, not %q", *syncCommit))
		}
		pg, err = startPostgres(ctx, postgresOptions{
			BinDir:            *pgBin,
			DataDir:           filepath.Join(abs, "pgdata"),
			MaxConnections:    *pool + 20,
			SynchronousCommit: *syncCommit,
		})
		if err != nil {
			fail(err)
		}
		config.PostgreSQLURL = pg.url(*pool)
	default:
		fail(fmt.Errorf("-backend (FERRETDB_BACKEND) must be postgresql or sqlite, not %q", *backend))
	}

	f, err := ferretdb.New(config)
	if err != nil {
		pg.stop()
		fail(err)
	}
	// FerretDB stops too when its PostgreSQL dies under it: a supervisor
	// (Docker's restart policy, the test harness) then sees the failure.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if pg != nil {
		go func() {
			<-pg.exited
			cancel()
		}()
	}
	fmt.Fprintf(os.Stderr, "ferretdb listening on %s, %s backend, data in %s\n", *addr, *backend, abs)
	runErr := f.Run(runCtx)
	pgDied := pg != nil && pg.hasExited()
	pgErr := pg.stop()
	if ctx.Err() != nil {
		return // asked to stop
	}
	if pgDied {
		fail(fmt.Errorf("PostgreSQL stopped under FerretDB (%v; its messages are above)", pg.waitErr))
	}
	if runErr != nil {
		fail(runErr)
	}
	if pgErr != nil {
		fail(pgErr)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fail(fmt.Errorf("%s must be a number, not %q", name, v))
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ferretdb:", err)
	os.Exit(1)
}
