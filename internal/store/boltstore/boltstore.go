// Package boltstore is the embedded store.Store backend: one bbolt file
// holding users, role assignments, resources, course-creator states and the
// audit log.
//
// Layout (schema version store.SchemaVersion, recorded in the meta bucket):
//
//	meta                  "schema_version" → decimal ASCII; "count_*" → 8-byte big-endian counters
//	users                 user id → JSON store.User
//	assignments           user \x00 scope \x00 role → empty
//	assignments_by_scope  scope \x00 user \x00 role → empty (index for scope filters)
//	resources             type \x00 id → JSON store.Resource
//	creators              user id → JSON store.CreatorState
//	audit                 8-byte big-endian sequence → JSON store.AuditEntry
//	audit_by_time         8-byte order-preserving UnixNano, 8-byte sequence → empty
//
// Ids are joined with NUL, so every id must be valid UTF-8 without NUL bytes;
// Apply rejects anything else with an error wrapping ErrInvalid before it
// writes. Every Apply is one bbolt read-write transaction that is fsynced
// before Apply returns, so an acknowledged write survives a crash or kill -9.
//
// The ForEach methods run fn inside one read transaction, so they see one
// consistent snapshot, and fn receives decoded copies it may keep. fn must
// not call back into the Store, neither reads nor Apply: a nested
// transaction in the same goroutine can deadlock against a waiting writer.
// Collect what you need and act after ForEach returns.
//
// A writable Store holds an exclusive lock on the file for as long as it is
// open; a read-only Store holds a shared lock. Another process asking for a
// conflicting lock waits at most Options.Timeout and then fails with an error
// wrapping store.ErrLocked.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/provost-lms/provost/internal/store"
)

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultLockTimeout = time.Second

// DefaultAuditLimit is the number of entries ListAudit returns when asked
// for a limit of zero or less.
const DefaultAuditLimit = 100

// MaxIDLen is the longest id (user, role, scope, resource type or id), in
// bytes, that Apply accepts.
const MaxIDLen = 4096

var (
	// ErrInvalid is wrapped by every error Apply returns for a Change it
	// refuses before writing (empty ids, NUL bytes, bad UTF-8, unknown
	// creator states, values that cannot be encoded as JSON).
	ErrInvalid = errors.New("invalid change")
	// ErrReadOnly is returned by Apply on a store opened with ReadOnly.
	ErrReadOnly = errors.New("store opened read-only")
)

// Options tune Open.
type Options struct {
	// ReadOnly opens the file with a shared lock; Apply then fails with
	// ErrReadOnly. The file must exist and carry the current schema.
	ReadOnly bool
	// Timeout is how long Open waits for the file lock held by another
	// process before failing with store.ErrLocked. Zero means
	// DefaultLockTimeout; a negative value tries once without waiting.
	Timeout time.Duration
}

// Store is a store.Store over one bbolt file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

var (
	bucketMeta        = []byte("meta")
	bucketUsers       = []byte("users")
	bucketAssignments = []byte("assignments")
	bucketByScope     = []byte("assignments_by_scope")
	bucketResources   = []byte("resources")
	bucketCreators    = []byte("creators")
	bucketAudit       = []byte("audit")
	bucketAuditByTime = []byte("audit_by_time")

	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketAssignments, bucketByScope,
		bucketResources, bucketCreators, bucketAudit, bucketAuditByTime,
	}

	keySchemaVersion = []byte("schema_version")
)

// Open opens the store file at path, creating it (mode 0600) with the
// current schema when it does not exist and opts.ReadOnly is false. The
// parent directory must exist.
//
// Open fails with an error wrapping store.ErrLocked when another process
// holds a conflicting lock for longer than opts.Timeout, and with an error
// wrapping store.ErrSchema when the file is not a Provost store of schema
// version store.SchemaVersion. A read-only Open of a missing file fails with
// an error wrapping fs.ErrNotExist.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt: one attempt, no wait
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  timeout,
		ReadOnly: opts.ReadOnly,
	})
	if err != nil {
		return nil, openError(path, opts, err)
	}
	s := &Store{db: db, path: path, readOnly: opts.ReadOnly}
	if err := s.checkSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func openError(path string, opts Options, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		how := "writing"
		if opts.ReadOnly {
			how = "exclusively"
		}
		return fmt.Errorf("boltstore: %s is held %s by another process (for example a running `provost serve`); gave up waiting for it: %w",
			path, how, store.ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("boltstore: %s is not a readable bbolt file: %w: %w", path, store.ErrSchema, err)
	default:
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	}
}

// checkSchema verifies the schema version, initialising an empty writable
// file. It writes nothing to a file that already carries a schema.
func (s *Store) checkSchema() error {
	var fresh bool
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if empty && !s.readOnly {
				fresh = true
				return nil
			}
			if empty {
				return fmt.Errorf("boltstore: %s has no schema (never opened for writing): %w", s.path, store.ErrSchema)
			}
			return fmt.Errorf("boltstore: %s is a bbolt file but not a Provost store: %w", s.path, store.ErrSchema)
		}
		raw := meta.Get(keySchemaVersion)
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("boltstore: %s has unreadable schema version %q: %w", s.path, raw, store.ErrSchema)
		}
		if v != store.SchemaVersion {
			return fmt.Errorf("boltstore: %s has schema version %d, this build reads version %d: %w",
				s.path, v, store.SchemaVersion, store.ErrSchema)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("boltstore: %s lacks bucket %q: %w", s.path, name, store.ErrSchema)
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(strconv.Itoa(store.SchemaVersion)))
	})
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close releases the file and its lock. It is idempotent: later calls
// return nil, and every other method then fails with store.ErrClosed.
// Close waits for running transactions to finish.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)
		s.closeErr = s.db.Close()
	})
	if first {
		return s.closeErr
	}
	return nil
}

// begin checks that the store is usable for a call made with ctx.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// view runs fn in a read-only transaction, translating bbolt errors.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return translate(s.db.View(fn))
}

// translate maps bbolt's lifecycle errors to the store's sentinels and
// leaves every other error (including those returned by callbacks) as is.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return store.ErrClosed
	case errors.Is(err, berrors.ErrDatabaseReadOnly):
		return ErrReadOnly
	}
	return err
}

// Stats returns the number of users, assignments, resources and audit
// entries, read from counters kept by Apply, and the size of the file.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := loadCounters(tx.Bucket(bucketMeta))
		st = store.Stats{
			Users:       int(c[cntUsers]),
			Assignments: int(c[cntAssignments]),
			Resources:   int(c[cntResources]),
			AuditLength: int(c[cntAudit]),
			FileBytes:   tx.Size(),
		}
		return nil
	})
	if err != nil {
		return store.Stats{}, err
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st, nil
}
