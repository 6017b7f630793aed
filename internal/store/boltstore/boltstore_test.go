package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/storetest"
)

var ctx = context.Background()

func tempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "provost.db")
}

func mustOpen(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", path, opts, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustApply(t *testing.T, s *Store, c store.Change) {
	t.Helper()
	if err := s.Apply(ctx, c); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// TestStoreSuite runs the shared suite on real files. After each case the
// file is reopened and checked for bbolt consistency, counters that agree
// with the buckets, and a scope index that mirrors the assignments.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		path := tempPath(t)
		s := mustOpen(t, path, Options{})
		t.Cleanup(func() {
			_ = s.Close()
			r := mustOpen(t, path, Options{ReadOnly: true})
			checkConsistency(t, r)
		})
		return s
	})
}

// checkConsistency verifies the file structure and the invariants Apply keeps.
func checkConsistency(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		b := openBuckets(tx)
		keyN := func(b *bolt.Bucket) int64 { return int64(b.Stats().KeyN) }
		c := loadCounters(b.meta)
		for _, x := range []struct {
			name    string
			counter int64
			bucket  *bolt.Bucket
		}{
			{"users", c[cntUsers], b.users},
			{"assignments", c[cntAssignments], b.assignments},
			{"assignments_by_scope", c[cntAssignments], b.byScope},
			{"resources", c[cntResources], b.resources},
			{"audit", c[cntAudit], b.audit},
			{"audit_by_time", c[cntAudit], b.auditByTime},
		} {
			if n := keyN(x.bucket); n != x.counter {
				t.Errorf("bucket %s holds %d keys, counter says %d", x.name, n, x.counter)
			}
		}
		return b.assignments.ForEach(func(k, _ []byte) error {
			user, scope, role, ok := split3(k)
			if !ok {
				t.Errorf("malformed assignment key %q", k)
			} else if !exists(b.byScope, scopeIndexKey(user, scope, role)) {
				t.Errorf("assignment %q missing from the scope index", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesSchema(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path, Options{})
	err := s.db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket(bucketMeta).Get(keySchemaVersion)); got != strconv.Itoa(store.SchemaVersion) {
			t.Errorf("schema_version = %q, want %d", got, store.SchemaVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
}

func TestSchemaMismatch(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
		inMsg   []string
	}{
		{"newer version", func(t *testing.T, path string) {
			mustOpen(t, path, Options{}).Close()
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("2"))
			})
		}, []string{"schema version 2", "version 1"}},
		{"unreadable version", func(t *testing.T, path string) {
			mustOpen(t, path, Options{}).Close()
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("one"))
			})
		}, []string{`"one"`}},
		{"missing bucket", func(t *testing.T, path string) {
			mustOpen(t, path, Options{}).Close()
			rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketAuditByTime) })
		}, []string{"audit_by_time"}},
		{"foreign bbolt file", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("something-else"))
				return err
			})
		}, []string{"not a Provost store"}},
		{"not a bbolt file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("provost!"), 4096), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"not a readable bbolt file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			tc.prepare(t, path)
			for _, ro := range []bool{false, true} {
				s, err := Open(path, Options{ReadOnly: ro})
				if err == nil {
					s.Close()
					t.Fatalf("Open(ReadOnly=%v) succeeded", ro)
				}
				if !errors.Is(err, store.ErrSchema) {
					t.Errorf("Open(ReadOnly=%v) = %v, want ErrSchema", ro, err)
				}
				for _, m := range tc.inMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
			}
			// A refused file is left for the operator, and unlocked.
			if _, err := os.Stat(path); err != nil {
				t.Errorf("file gone after refused Open: %v", err)
			}
		})
	}
}

func rawUpdate(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestReopenPersists(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path, Options{})
	when := time.Date(2026, 5, 1, 9, 30, 0, 123456789, time.UTC)
	mustApply(t, s, store.Change{
		PutUsers:      []store.User{{ID: "42", Email: "a@example.com", IsActive: true, Attributes: map[string]any{"can_upload": true}}},
		Grant:         []store.Assignment{{User: "42", Role: "instructor", Scope: "course-v1:A+B+C"}},
		PutResources:  []store.Resource{{Type: "course", ID: "course-v1:A+B+C", Properties: map[string]any{"org": "A"}}},
		CreatorStates: []store.CreatorState{{User: "42", State: "pending"}},
		Audit:         []store.AuditEntry{{Time: when, Caller: "admin", Action: "role.grant", Target: "42"}},
	})
	before, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, Options{})
	if u, err := s.GetUser(ctx, "42"); err != nil || u.Email != "a@example.com" || u.Attributes["can_upload"] != true {
		t.Errorf("GetUser after reopen = %+v, %v", u, err)
	}
	n := 0
	_ = s.ForEachAssignment(ctx, store.AssignmentFilter{Scope: "course-v1:A+B+C"}, func(store.Assignment) error { n++; return nil })
	if n != 1 {
		t.Errorf("assignments after reopen = %d, want 1", n)
	}
	if r, err := s.GetResource(ctx, "course", "course-v1:A+B+C"); err != nil || r.Properties["org"] != "A" {
		t.Errorf("GetResource after reopen = %+v, %v", r, err)
	}
	if cs, err := s.GetCreatorState(ctx, "42"); err != nil || cs.State != "pending" {
		t.Errorf("GetCreatorState after reopen = %+v, %v", cs, err)
	}
	es, err := s.ListAudit(ctx, time.Time{}, 0)
	if err != nil || len(es) != 1 || !es[0].Time.Equal(when) || es[0].Time.Location() != time.UTC {
		t.Errorf("ListAudit after reopen = %+v, %v", es, err)
	}
	after, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("Stats after reopen = %+v, before %+v", after, before)
	}
	// Sequence numbers continue after a reopen.
	mustApply(t, s, store.Change{Audit: []store.AuditEntry{{Time: when.Add(time.Second), Action: "x"}}})
	es, _ = s.ListAudit(ctx, time.Time{}, 0)
	if len(es) != 2 || es[1].Seq <= es[0].Seq {
		t.Errorf("audit after reopen = %+v, want a larger second sequence", es)
	}
}

func TestReadOnly(t *testing.T) {
	path := tempPath(t)
	w := mustOpen(t, path, Options{})
	mustApply(t, w, store.Change{PutUsers: []store.User{{ID: "u", IsActive: true}}})
	w.Close()

	r1 := mustOpen(t, path, Options{ReadOnly: true})
	r2 := mustOpen(t, path, Options{ReadOnly: true}) // shared lock: readers coexist
	for _, r := range []*Store{r1, r2} {
		if !r.ReadOnly() {
			t.Error("ReadOnly() = false")
		}
		if _, err := r.GetUser(ctx, "u"); err != nil {
			t.Errorf("GetUser on read-only store: %v", err)
		}
	}
	err := r1.Apply(ctx, store.Change{PutUsers: []store.User{{ID: "v"}}})
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("Apply on read-only store = %v, want ErrReadOnly", err)
	}
	// A writer cannot open while readers hold the file.
	if s, err := Open(path, Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		if err == nil {
			s.Close()
		}
		t.Errorf("writable Open beside readers = %v, want ErrLocked", err)
	}
	r1.Close()
	r2.Close()
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestSecondWriterLocked(t *testing.T) {
	path := tempPath(t)
	first := mustOpen(t, path, Options{})
	for _, opts := range []Options{
		{Timeout: 200 * time.Millisecond},
		{Timeout: -1},
		{Timeout: 200 * time.Millisecond, ReadOnly: true},
	} {
		start := time.Now()
		s, err := Open(path, opts)
		took := time.Since(start)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%+v) succeeded while another writer holds the file", opts)
		}
		if !errors.Is(err, store.ErrLocked) {
			t.Errorf("Open(%+v) = %v, want ErrLocked", opts, err)
		}
		if !strings.Contains(err.Error(), "provost serve") || !strings.Contains(err.Error(), path) {
			t.Errorf("error %q should name the file and suggest a running `provost serve`", err)
		}
		if took > 2*time.Second {
			t.Errorf("Open(%+v) took %v", opts, took)
		}
	}
	first.Close()
	mustOpen(t, path, Options{Timeout: 200 * time.Millisecond})
}

func TestInvalidWrapsErrInvalid(t *testing.T) {
	s := mustOpen(t, tempPath(t), Options{})
	long := strings.Repeat("x", MaxIDLen+1)
	for name, c := range map[string]store.Change{
		"empty user":    {PutUsers: []store.User{{}}},
		"NUL role":      {Grant: []store.Assignment{{User: "u", Role: "a\x00", Scope: "global"}}},
		"long scope":    {Grant: []store.Assignment{{User: "u", Role: "r", Scope: long}}},
		"granted state": {CreatorStates: []store.CreatorState{{User: "u", State: "granted"}}},
		"year 3000":     {Audit: []store.AuditEntry{{Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	} {
		if err := s.Apply(ctx, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Apply = %v, want ErrInvalid", name, err)
		}
	}
	mustApply(t, s, store.Change{Grant: []store.Assignment{{User: strings.Repeat("u", MaxIDLen), Role: strings.Repeat("r", MaxIDLen), Scope: strings.Repeat("s", MaxIDLen)}}})
	checkConsistency(t, s)
}

func TestFilledAuditTimeIsUTC(t *testing.T) {
	s := mustOpen(t, tempPath(t), Options{})
	mustApply(t, s, store.Change{Audit: []store.AuditEntry{{Action: "x"}}})
	es, err := s.ListAudit(ctx, time.Time{}, 0)
	if err != nil || len(es) != 1 {
		t.Fatalf("ListAudit = %v, %v", es, err)
	}
	if es[0].Time.Location() != time.UTC || es[0].Time.IsZero() {
		t.Errorf("filled time = %v, want a UTC time", es[0].Time)
	}
}

// Kill -9 durability: the test binary runs itself as a writer process,
// reads its acknowledgements, kills it with SIGKILL and checks that every
// acknowledged grant survived.

const (
	envWriterPath  = "PROVOST_TEST_WRITER"
	envWriterStart = "PROVOST_TEST_WRITER_START"
	helperMax      = 100000
	killScope      = "course-v1:Kill+Nine+Run"
)

func killUser(n int) string { return fmt.Sprintf("u%07d", n) }

// TestHelperWriter is the child process of TestKill9Durability; it does
// nothing unless PROVOST_TEST_WRITER names a store file.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(envWriterPath)
	if path == "" {
		t.Skip("helper process for TestKill9Durability")
	}
	start, _ := strconv.Atoi(os.Getenv(envWriterStart))
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(2)
	}
	parent := os.Getppid()
	deadline := time.Now().Add(time.Minute)
	for i := range helperMax {
		// Stop by ourselves if the parent is gone (a write to the closed
		// pipe would also kill us with SIGPIPE) or something hangs.
		if os.Getppid() != parent || time.Now().After(deadline) {
			os.Exit(3)
		}
		n := start + i
		c := store.Change{
			Grant: []store.Assignment{{User: killUser(n), Role: "staff", Scope: killScope}},
			Audit: []store.AuditEntry{{Caller: "helper", Action: "role.grant", Target: killUser(n)}},
		}
		if err := s.Apply(ctx, c); err != nil {
			fmt.Fprintln(os.Stderr, "helper apply:", err)
			os.Exit(2)
		}
		// os.Stdout is unbuffered: one write per line, sent once Apply returned.
		fmt.Fprintf(os.Stdout, "ack %d\n", n)
	}
	os.Exit(0)
}

func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test skipped in -short mode")
	}
	const (
		iterations = 20
		maxAcks    = 200              // kill after 1..maxAcks acknowledgements
		budget     = 15 * time.Second // on a slow disk, stop early (after at least 5 kills)
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	path := tempPath(t)

	acked := map[int]bool{}    // every index the child acknowledged
	inFlight := map[int]bool{} // indexes that may or may not have committed
	next, totalAcks := 0, 0
	began := time.Now()
	kills := 0
	for it := range iterations {
		if it >= 5 && time.Since(began) > budget {
			t.Logf("time budget spent; stopping after %d kills", it)
			break
		}
		kills++
		target := 1 + rng.IntN(maxAcks)
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), envWriterPath+"="+path, envWriterStart+"="+strconv.Itoa(next))
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		got, last, killed := 0, next-1, false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("bad ack line %q", sc.Text())
			}
			acked[n], last = true, n
			got++
			if !killed && got >= target {
				if rng.IntN(2) == 0 { // sometimes land mid-commit rather than between
					time.Sleep(time.Duration(rng.IntN(400)) * time.Microsecond)
				}
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		// Lines written before the kill were still read above: they count.
		werr := cmd.Wait()
		if !killed {
			t.Fatalf("iteration %d: writer exited after %d acks before the kill: %v\n%s", it, got, werr, stderr.String())
		}
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			t.Fatalf("iteration %d: wait: %v", it, werr)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
			t.Fatalf("iteration %d: writer ended with %v, not SIGKILL\n%s", it, werr, stderr.String())
		}
		inFlight[last+1] = true
		next = last + 2
		totalAcks += got

		s := mustOpen(t, path, Options{Timeout: 5 * time.Second})
		present := map[int]bool{}
		err = s.ForEachAssignment(ctx, store.AssignmentFilter{Scope: killScope}, func(a store.Assignment) error {
			n, err := strconv.Atoi(strings.TrimPrefix(a.User, "u"))
			present[n] = err == nil
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for n := range acked {
			if !present[n] {
				t.Fatalf("iteration %d: acknowledged grant %d lost after kill -9", it, n)
			}
		}
		for n := range present {
			if !acked[n] && !inFlight[n] {
				t.Errorf("iteration %d: grant %d present but never attempted", it, n)
			}
		}
		checkConsistency(t, s)
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Assignments != len(present) || st.AuditLength != len(present) {
			t.Errorf("iteration %d: Stats %+v, but %d grants present", it, st, len(present))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d acknowledged grants, all present; %v", kills, totalAcks, time.Since(began))
}
