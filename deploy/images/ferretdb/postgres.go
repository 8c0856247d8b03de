package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

type postgresOptions struct {
	BinDir            string
	DataDir           string
	MaxConnections    int
	SynchronousCommit string
}

// postgres is the PostgreSQL server this command runs for FerretDB: reached
// only through a Unix socket in a directory of its own (no TCP listener), so
// trust authentication lets in nobody but its owner (and root).
type postgres struct {
	cmd       *exec.Cmd
	socketDir string
	exited    chan struct{}
	waitErr   error
}

const pgRole = "ferretdb"

// startPostgres initialises the cluster in DataDir on first use, starts it and
// returns once it accepts connections.
func startPostgres(ctx context.Context, o postgresOptions) (*postgres, error) {
	bin, err := findPostgresBin(o.BinDir)
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	// The data directory's parent is ours; PostgreSQL's user must be able to create pgdata in it.
	if err := chownTo(filepath.Dir(o.DataDir), cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "ferretdb: initialising PostgreSQL in %s\n", o.DataDir)
		initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", o.DataDir, "-U", pgRole,
			"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
		initdb.Stdout, initdb.Stderr = os.Stderr, os.Stderr
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if err := initdb.Run(); err != nil {
			return nil, fmt.Errorf("initdb %s failed (its messages are above)%s: %w", o.DataDir, reachNote(cred), err)
		}
	} else if err != nil {
		return nil, err
	}
	if err := removeStaleLock(o.DataDir); err != nil {
		return nil, err
	}

	socketDir, err := os.MkdirTemp("", "ferretdb-pg-")
	if err != nil {
		return nil, err
	}
	if err := chownTo(socketDir, cred); err != nil {
		os.RemoveAll(socketDir)
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", o.DataDir, "-k", socketDir,
		"-c", "listen_addresses=",
		"-c", "max_connections="+strconv.Itoa(o.MaxConnections),
		"-c", "synchronous_commit="+o.SynchronousCommit,
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// SIGINT is PostgreSQL's fast shutdown: it also comes when this process
	// dies without stopping it (SIGKILL), so no orphaned server keeps the data.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(socketDir)
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	pg := &postgres{cmd: cmd, socketDir: socketDir, exited: make(chan struct{})}
	go func() {
		pg.waitErr = cmd.Wait()
		close(pg.exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, pg.url(0))
		if err == nil {
			conn.Close(ctx)
			return pg, nil
		}
		select {
		case <-pg.exited:
			pg.stop()
			return nil, fmt.Errorf("PostgreSQL exited before it was ready (its messages are above)%s: %v", reachNote(cred), pg.waitErr)
		case <-ctx.Done():
			pg.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			pg.stop()
			return nil, fmt.Errorf("PostgreSQL did not accept connections within 60 s: %w", err)
		}
	}
}

// removeStaleLock deletes the postmaster.pid of a PostgreSQL that was killed
// (a killed container) unless that server still runs. In a container's new
// PID namespace the pid it names often belongs to another process by now,
// even to a thread of this one, and PostgreSQL would then refuse to start,
// taking it for a running server. A running one is a "postgres" process
// whose working directory is the data directory.
func removeStaleLock(dataDir string) error {
	lock := filepath.Join(dataDir, "postmaster.pid")
	data, err := os.ReadFile(lock)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if pid > 0 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		cwd, cwdErr := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if strings.TrimSpace(string(comm)) == "postgres" && (cwdErr != nil || cwd == dataDir) {
			return nil // still running (or not ours to judge): PostgreSQL says so itself
		}
	}
	fmt.Fprintf(os.Stderr, "ferretdb: removing %s of a PostgreSQL that no longer runs (pid %d)\n", lock, pid)
	return os.Remove(lock)
}

// url is FerretDB's connection string: the socket directory as host and, for
// FerretDB's pool (not a single connection), at most poolMax connections.
func (pg *postgres) url(poolMax int) string {
	q := url.Values{"host": {pg.socketDir}}
	if poolMax > 0 {
		q.Set("pool_max_conns", strconv.Itoa(poolMax))
	}
	return "postgres://" + pgRole + "@/postgres?" + q.Encode()
}

func (pg *postgres) hasExited() bool {
	select {
	case <-pg.exited:
		return true
	default:
		return false
	}
}

// stop shuts PostgreSQL down (fast: sessions end, a checkpoint is written)
// and waits for it. Safe on nil and after it has exited.
func (pg *postgres) stop() error {
	if pg == nil {
		return nil
	}
	if !pg.hasExited() {
		_ = pg.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-pg.exited:
		case <-time.After(60 * time.Second):
			_ = pg.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown: recovery replays the WAL at the next start
			<-pg.exited
		}
	}
	os.RemoveAll(pg.socketDir)
	var exitErr *exec.ExitError
	if errors.As(pg.waitErr, &exitErr) && exitErr.Exited() {
		return fmt.Errorf("PostgreSQL stopped with %v (its messages are above)", pg.waitErr)
	}
	return nil
}

// findPostgresBin: the flag, else Debian's newest /usr/lib/postgresql/N/bin, else PATH.
func findPostgresBin(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("-postgresql-bin (FERRETDB_POSTGRESQL_BIN) %s has no postgres in it", dir)
		}
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("PostgreSQL is missing: install it (Debian: apt-get install postgresql, or make test-deps), or run with -backend sqlite")
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// postgresCredential: PostgreSQL refuses to run as root, so root runs it as
// the postgres user (FERRETDB_POSTGRESQL_USER); anyone else runs it as themselves.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name := envOr("FERRETDB_POSTGRESQL_USER", "postgres")
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no user %q to run it as: install PostgreSQL (it creates one) or set FERRETDB_POSTGRESQL_USER", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// reachNote names the usual cause when root runs PostgreSQL as another user.
func reachNote(cred *syscall.Credential) string {
	if cred == nil {
		return ""
	}
	return fmt.Sprintf("; if it says permission denied: it runs as uid %d, which must be able to reach every directory above the data directory", cred.Uid)
}

func chownTo(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("giving %s to PostgreSQL's user: %w", path, err)
	}
	return nil
}
