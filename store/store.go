package store

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a statement waits for another process's write lock
// before SQLite gives up. Writes here are short (one message, one flush), so a
// generous value only matters under heavy contention and keeps SQLITE_BUSY from
// ever reaching callers.
const busyTimeout = 15 * time.Second

// Store is an open history database. It is safe for concurrent use by many
// goroutines, and several processes may open the same file at once.
type Store struct {
	db       *sql.DB
	path     string
	readOnly bool
}

// Path returns the database file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// Open opens (creating it and its parent directories when missing) the history
// database at path and brings its schema up to date. Errors are one line and name
// the path. A file that is not an SQLite database, or one that is corrupt, is
// reported and never modified.
func Open(path string) (*Store, error) {
	return open(path, false)
}

// OpenReadOnly opens an existing database without creating, migrating or writing
// it (for diagnostics such as `impetus doctor`). Writes through it fail.
func OpenReadOnly(path string) (*Store, error) {
	return open(path, true)
}

func open(path string, readOnly bool) (*Store, error) {
	if path == "" {
		return nil, errors.New("open history database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open history database %s: %v", path, err)
	}
	path = abs
	if err := checkFile(path, readOnly); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite3", dsn(path, readOnly))
	if err != nil {
		return nil, fmt.Errorf("open history database %s: %v", path, err)
	}
	s := &Store{db: db, path: path, readOnly: readOnly}
	// Touch the file now so a bad file fails Open, not the first query.
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, s.describe("open", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		db.Close()
		return nil, s.describe("read", err)
	}
	if readOnly {
		v, err := s.SchemaVersion()
		if err != nil {
			db.Close()
			return nil, err
		}
		if v > latestVersion() {
			db.Close()
			return nil, s.tooNew(v)
		}
		return s, nil
	}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds the go-sqlite3 connection string. A file: URI keeps paths with '?'
// or '#' intact. _txlock=immediate makes every transaction take the write lock at
// BEGIN, so a transaction never has to upgrade a read lock (the one case where
// SQLite returns SQLITE_BUSY without waiting for busy_timeout).
func dsn(path string, readOnly bool) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.Itoa(int(busyTimeout/time.Millisecond)))
	q.Set("_foreign_keys", "on")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("mode", "rwc")
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
	}
	return u.String() + "?" + q.Encode()
}

// checkFile reports, before SQLite touches anything, the problems SQLite would
// report vaguely ("unable to open database file") or would act on (a non-database
// file must never be rewritten).
func checkFile(path string, readOnly bool) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if readOnly {
			return fmt.Errorf("open history database %s: no such file (run impetus once to create it, or pass --db)", path)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("open history database %s: cannot create directory %s: %v", path, dir, rootCause(err))
		}
		if err := dirWritable(dir); err != nil {
			return fmt.Errorf("open history database %s: directory %s is not writable (%v); fix its permissions or choose another file with --db", path, dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("open history database %s: %v", path, rootCause(err))
	case st.IsDir():
		return fmt.Errorf("open history database %s: is a directory, not a database file", path)
	}

	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open history database %s: cannot read it (%v); fix its permissions or choose another file with --db", path, rootCause(err))
	}
	head := make([]byte, len(sqliteMagic))
	n, err := io.ReadFull(f, head)
	f.Close()
	switch {
	case n == 0 && (err == nil || errors.Is(err, io.EOF)):
		// An empty file is an empty database to SQLite.
	case n == len(sqliteMagic) && bytes.Equal(head, sqliteMagic):
		// A database header; deeper corruption is reported by SQLite below.
	case n > 0 && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)):
		return notADatabase(path)
	default:
		return fmt.Errorf("open history database %s: cannot read it: %v", path, rootCause(err))
	}
	if readOnly {
		return nil
	}
	// SQLite silently falls back to read-only on an unwritable file, and in WAL
	// mode it needs to create -wal and -shm files next to it.
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("open history database %s: file is not writable (%v); fix its permissions or choose another file with --db", path, rootCause(err))
	} else {
		f.Close()
	}
	if err := dirWritable(dir); err != nil {
		if _, werr := os.Stat(path + "-wal"); werr != nil {
			return fmt.Errorf("open history database %s: directory %s is not writable (%v) and SQLite needs to create %s-wal there; fix its permissions or choose another file with --db", path, dir, err, filepath.Base(path))
		}
	}
	return nil
}

func notADatabase(path string) error {
	return fmt.Errorf("open history database %s: file is not an SQLite database (left untouched); move it aside or choose another file with --db", path)
}

// dirWritable probes by creating and removing a temporary file: permission bits
// do not tell the whole story (root, read-only mounts, immutable attributes).
func dirWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".impetus-probe-*")
	if err != nil {
		return rootCause(err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// rootCause strips the *PathError wrapper, whose path the callers already name.
func rootCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describe turns a driver error into one line that names the database file and,
// for the common failure modes, says what to do.
func (s *Store) describe(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return notADatabase(s.path)
		case sqlite3.ErrCorrupt:
			return fmt.Errorf("%s history database %s: the file is corrupt (%v); it was left untouched: restore a backup or move it aside", op, s.path, oneLine(err))
		case sqlite3.ErrCantOpen:
			return fmt.Errorf("%s history database %s: cannot open (%v); check the file and directory permissions or choose another file with --db", op, s.path, oneLine(err))
		case sqlite3.ErrReadonly:
			return fmt.Errorf("%s history database %s: read-only (%v); fix the permissions or choose another file with --db", op, s.path, oneLine(err))
		case sqlite3.ErrPerm, sqlite3.ErrAuth:
			return fmt.Errorf("%s history database %s: permission denied (%v)", op, s.path, oneLine(err))
		case sqlite3.ErrFull:
			return fmt.Errorf("%s history database %s: disk full (%v)", op, s.path, oneLine(err))
		}
	}
	return fmt.Errorf("%s history database %s: %s", op, s.path, oneLine(err))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// A migration is one embedded file migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// migrations lists the embedded migrations in version order. A malformed name is
// a programming error caught by the tests.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: m[2], sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 0001, 0002, … without gaps; found %04d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

func latestVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// LatestSchemaVersion is the schema version this build of impetus writes.
func LatestSchemaVersion() int { return latestVersion() }

// SchemaVersion returns the version of the schema in the database file (0 for a
// fresh file). It is kept in PRAGMA user_version and, with names and times, in
// the schema_migrations table.
func (s *Store) SchemaVersion() (int, error) {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return 0, s.describe("read", err)
	}
	return v, nil
}

func (s *Store) tooNew(v int) error {
	return fmt.Errorf("open history database %s: schema version %d is newer than this impetus understands (%d); upgrade impetus", s.path, v, latestVersion())
}

// migrate applies the missing migrations, each in its own immediate transaction
// that re-reads the version first, so processes opening a fresh file at the same
// time apply every migration exactly once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	// Up to date (the usual case): no write lock needed.
	if v, err := s.SchemaVersion(); err != nil {
		return err
	} else if v == len(ms) {
		return nil
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	v, err := s.SchemaVersion()
	if err != nil {
		return err
	}
	if v > len(ms) {
		return s.tooNew(v)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.describe("migrate", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return s.describe("migrate", err)
	}
	if v >= m.version {
		return nil
	}
	if v != m.version-1 {
		return fmt.Errorf("migrate history database %s: at schema version %d, cannot apply %04d_%s", s.path, v, m.version, m.name)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return s.describe("migrate", err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migrate history database %s: migration %04d_%s: %s", s.path, m.version, m.name, oneLine(err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, nowMs()); err != nil {
		return s.describe("migrate", err)
	}
	// PRAGMA does not take bound parameters; the version is an int we produced.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, m.version)); err != nil {
		return s.describe("migrate", err)
	}
	if err := tx.Commit(); err != nil {
		return s.describe("migrate", err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns nil when it reports "ok".
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return s.describe("check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.describe("check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.describe("check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("history database %s failed integrity check: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}

func nowMs() int64 { return time.Now().UnixMilli() }

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
