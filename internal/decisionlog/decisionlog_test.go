package decisionlog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/decisionlog"
	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/fixtures"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// policyDir is the repository root: model.conf, policies/, rego/.
var policyDir = filepath.Join("..", "..")

// line is one decision log line, decoded strictly.
type line struct {
	DecisionID string `json:"decision_id"`
	Time       string `json:"time"`
	Subject    struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"subject"`
	Action struct {
		Name string `json:"name"`
	} `json:"action"`
	Resource struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"resource"`
	Decision   *bool  `json:"decision"`
	Reason     string `json:"reason"`
	Error      string `json:"error"`
	Revision   string `json:"revision"`
	DurationUS *int64 `json:"duration_us"`
}

// readLines decodes every line of data; an unknown field or a line that is
// not one JSON object fails the test.
func readLines(t *testing.T, data []byte) []line {
	t.Helper()
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		if dec.More() {
			t.Fatalf("line %d %q: more than one value", len(out)+1, sc.Text())
		}
		if l.Decision == nil || l.DurationUS == nil || l.DecisionID == "" || l.Time == "" {
			t.Fatalf("line %d %q: a field is missing", len(out)+1, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("the log does not end with a newline: %q", data[max(0, len(data)-80):])
	}
	return out
}

func openEngine(t *testing.T, f *fixtures.File, observe func(*engine.Request, *engine.Decision, time.Duration)) *engine.Engine {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var c store.Change
	for _, u := range f.Data.Users {
		c.PutUsers = append(c.PutUsers, store.User{ID: u.ID, Email: u.Email, Username: u.Username, IsActive: u.Active(),
			IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser, Language: u.Language, Attributes: u.Attributes})
	}
	for _, a := range f.Data.Assignments {
		c.Grant = append(c.Grant, store.Assignment{User: a.User, Role: a.Role, Scope: a.Scope})
	}
	for _, r := range f.Data.Resources {
		c.PutResources = append(c.PutResources, store.Resource{Type: r.Type, ID: r.ID, Properties: r.Properties})
	}
	if err := st.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(context.Background(), engine.Options{Store: st, PolicyDir: policyDir, Pack: f.Pack, Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// request converts a fixture request the way the HTTP layer decodes JSON.
func request(t *testing.T, m map[string]any) *engine.Request {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var r engine.Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestLinesMatchDecisions makes the openedx fixture decisions (and a few
// malformed requests) with a real engine over a real bbolt store and checks
// that the log holds exactly one matching line per decision, in order.
func TestLinesMatchDecisions(t *testing.T) {
	f, err := fixtures.Load(filepath.Join(policyDir, "testdata", "fixtures", "openedx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data", decisionlog.FileName)
	dl, err := decisionlog.Open(path, decisionlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, f, dl.Observe)
	ctx := context.Background()

	var reqs []*engine.Request
	for _, s := range f.Suites {
		if len(s.Settings) > 0 {
			continue
		}
		for _, c := range s.Cases {
			reqs = append(reqs, request(t, c.Request))
		}
	}
	reqs = append(reqs,
		&engine.Request{Subject: engine.Entity{Type: "user", ID: "bad\xffid\n\"q\""}, Action: engine.Action{Name: "studio.edit_content"},
			Resource: engine.Entity{Type: "course", ID: "course-v1:Marvel+CS101+2026"}},
		&engine.Request{Subject: engine.Entity{Type: "group", ID: "g"}, Action: engine.Action{Name: "x"},
			Resource: engine.Entity{Type: "course", ID: "c", Properties: map[string]any{"secret": "s3cr3t"}}},
	)
	start := time.Now()
	var want []engine.Decision
	allowed := 0
	for _, r := range reqs {
		d := e.Decide(ctx, r)
		want = append(want, d)
		if d.Allow {
			allowed++
		}
	}
	end := time.Now()
	if allowed == 0 || allowed == len(want) {
		t.Fatalf("allowed %d of %d: the decisions must hold both answers", allowed, len(want))
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if dl.Dropped() != 0 {
		t.Errorf("Dropped() = %d, want 0", dl.Dropped())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("s3cr3t")) || bytes.Contains(data, []byte(`"properties"`)) {
		t.Error("the log holds request properties")
	}
	got := readLines(t, data)
	if len(got) != len(want) {
		t.Fatalf("%d lines for %d decisions", len(got), len(want))
	}
	for i, l := range got {
		d, r := want[i], reqs[i]
		if l.DecisionID != d.ID || *l.Decision != d.Allow || l.Reason != d.Reason || l.Error != d.Error || l.Revision != d.Revision {
			t.Errorf("line %d: %+v\ndoes not match decision %+v", i+1, l, d)
		}
		if l.Subject.Type != r.Subject.Type || l.Subject.ID != strings.ToValidUTF8(r.Subject.ID, "\uFFFD") ||
			l.Action.Name != r.Action.Name || l.Resource.Type != r.Resource.Type || l.Resource.ID != r.Resource.ID {
			t.Errorf("line %d: %+v\ndoes not match request %+v", i+1, l, r)
		}
		at, err := time.Parse(time.RFC3339, l.Time)
		if err != nil || !strings.HasSuffix(l.Time, "Z") || !strings.Contains(l.Time, ".") {
			t.Errorf("line %d: time %q is not RFC 3339 in UTC with sub-seconds: %v", i+1, l.Time, err)
		}
		if at.Before(start.Truncate(time.Microsecond)) || at.After(end) {
			t.Errorf("line %d: time %s outside the test's %s..%s", i+1, at, start, end)
		}
		// Valid requests go through Rego, which takes microseconds.
		if !strings.HasPrefix(d.Reason, "malformed") && *l.DurationUS <= 0 {
			t.Errorf("line %d: duration_us %d, want > 0", i+1, *l.DurationUS)
		}
	}
	if !strings.HasPrefix(want[len(want)-1].Reason, "malformed request") {
		t.Errorf("the last request should be malformed: %+v", want[len(want)-1])
	}
}

func testEntry(i int, reason string) (*engine.Request, *engine.Decision) {
	req := &engine.Request{Subject: engine.Entity{Type: "user", ID: fmt.Sprintf("u%d", i)},
		Action:   engine.Action{Name: "studio.edit_content"},
		Resource: engine.Entity{Type: "course", ID: "course-v1:Marvel+CS101+2026"}}
	d := &engine.Decision{ID: fmt.Sprintf("d-%d", i), Allow: i%2 == 0, Reason: reason, Revision: "rev1"}
	return req, d
}

// TestErrorField checks that error appears exactly when the decision failed.
func TestErrorField(t *testing.T) {
	var out bytes.Buffer
	dl, err := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	req, d := testEntry(1, "evaluation error")
	d.Error = "rego_type_error: boom"
	dl.Observe(req, d, 1500*time.Microsecond)
	req, d = testEntry(2, "role instructor allows")
	dl.Observe(req, d, 0)
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, out.Bytes())
	if len(lines) != 2 || lines[0].Error != "rego_type_error: boom" || *lines[0].DurationUS != 1500 || *lines[0].Decision {
		t.Fatalf("lines %+v", lines)
	}
	if strings.Contains(strings.SplitN(out.String(), "\n", 3)[1], `"error"`) {
		t.Errorf("a decision without error has an error field: %s", out.String())
	}
}

// TestFixedClock checks the time field's format with an injected clock.
func TestFixedClock(t *testing.T) {
	var out bytes.Buffer
	at := time.Date(2026, 3, 4, 5, 6, 7, 8_000, time.FixedZone("x", 3600))
	dl, _ := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: &out, Now: func() time.Time { return at }})
	req, d := testEntry(0, "r")
	dl.Observe(req, d, 42*time.Microsecond)
	dl.Close()
	want := `{"decision_id":"d-0","time":"2026-03-04T04:06:07.000008Z","subject":{"type":"user","id":"u0"},` +
		`"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"},` +
		`"decision":true,"reason":"r","revision":"rev1","duration_us":42}` + "\n"
	if out.String() != want {
		t.Errorf("got  %s\nwant %s", out.String(), want)
	}
}

// TestRotation fills more than the size limit and checks that the file was
// rotated, no file exceeds the limit and no line was split or lost.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, decisionlog.FileName)
	const n = 2500 // about 1 KiB each: 2.5 MB over 1 MB files
	dl, err := decisionlog.Open(path, decisionlog.Options{MaxSizeMB: 1, BufferSize: n})
	if err != nil {
		t.Fatal(err)
	}
	reason := strings.Repeat("r", 900)
	for i := range n {
		req, d := testEntry(i, reason)
		dl.Observe(req, d, time.Millisecond)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "decisions*.log"))
	if len(files) < 3 {
		t.Fatalf("files %v: want the log and at least two backups", files)
	}
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 1<<20 {
			t.Errorf("%s: %d bytes, over the 1 MB limit", f, len(data))
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
		for _, l := range readLines(t, data) {
			seen[l.DecisionID] = true
		}
	}
	if len(seen) != n || dl.Dropped() != 0 {
		t.Errorf("%d distinct decisions logged of %d, %d dropped", len(seen), n, dl.Dropped())
	}
}

// TestAppends checks that reopening the log appends to it.
func TestAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), decisionlog.FileName)
	for i := range 2 {
		dl, err := decisionlog.Open(path, decisionlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		req, d := testEntry(i, "r")
		dl.Observe(req, d, time.Millisecond)
		if err := dl.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	if l := readLines(t, data); len(l) != 2 || l[0].DecisionID != "d-0" || l[1].DecisionID != "d-1" {
		t.Errorf("lines %+v", l)
	}
}

// TestOpenErrors checks that Open fails fast on a target it cannot write.
func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, target := range []string{"", filepath.Join(file, "decisions.log")} {
		if dl, err := decisionlog.Open(target, decisionlog.Options{}); err == nil {
			dl.Close()
			t.Errorf("Open(%q) succeeded", target)
		}
	}
}

// TestOff checks that "off" is a nil logger whose methods do nothing.
func TestOff(t *testing.T) {
	dl, err := decisionlog.Open(decisionlog.Off, decisionlog.Options{})
	if err != nil || dl != nil {
		t.Fatalf("Open(off) = %v, %v; want nil, nil", dl, err)
	}
	req, d := testEntry(0, "r")
	dl.Observe(req, d, time.Millisecond)
	if dl.Dropped() != 0 || dl.Close() != nil || dl.Close() != nil {
		t.Error("the off logger did something")
	}
}

// TestStdoutFlushesPeriodically checks the stdout target and that a
// decision is written within the flush interval, before Close.
func TestStdoutFlushesPeriodically(t *testing.T) {
	out := &syncBuffer{}
	dl, err := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: out, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	req, d := testEntry(7, "r")
	dl.Observe(req, d, time.Millisecond)
	waitFor(t, func() bool { return strings.Contains(out.String(), `"decision_id":"d-7"`) })
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingWriter blocks every Write until released; entered receives once
// when the first Write starts.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	out     syncBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return w.out.Write(p)
}

// TestOverflow blocks the writer: Observe must not block, Dropped must
// count exactly the decisions beyond the buffer, the server's log must say
// so, and Close must still write everything that was queued.
func TestOverflow(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	var logs syncBuffer
	const size, extra = 4, 3
	dl, err := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: w, BufferSize: size,
		FlushInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req, d := testEntry(0, "r")
	dl.Observe(req, d, time.Millisecond)
	<-w.entered // the writer holds decision 0 and is stuck
	start := time.Now()
	for i := 1; i <= size+extra; i++ {
		req, d := testEntry(i, "r")
		dl.Observe(req, d, time.Millisecond)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Observe blocked: %d calls took %s", size+extra, took)
	}
	if got := dl.Dropped(); got != extra {
		t.Errorf("Dropped() = %d, want %d", got, extra)
	}
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), fmt.Sprintf("decision log buffer full: %d decisions dropped", extra))
	})
	close(w.release)
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, []byte(w.out.String()))
	if len(lines) != 1+size {
		t.Fatalf("%d lines, want %d", len(lines), 1+size)
	}
	for i, l := range lines {
		if l.DecisionID != fmt.Sprintf("d-%d", i) {
			t.Errorf("line %d: decision %s, want d-%d", i, l.DecisionID, i)
		}
	}
	// After Close, decisions are dropped and counted, never queued.
	dl.Observe(req, d, time.Millisecond)
	if got := dl.Dropped(); got != extra+1 {
		t.Errorf("Dropped() after Close = %d, want %d", got, extra+1)
	}
	if err := dl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// failingWriter fails every Write.
type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, os.ErrClosed }

// TestWriteFailure checks that decisions lost in a failed write are counted
// and said.
func TestWriteFailure(t *testing.T) {
	var logs syncBuffer
	dl, _ := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: failingWriter{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range 5 {
		req, d := testEntry(i, "r")
		dl.Observe(req, d, time.Millisecond)
	}
	if err := dl.Close(); err == nil {
		t.Error("Close did not report the failed write")
	}
	if dl.Dropped() != 5 {
		t.Errorf("Dropped() = %d, want 5", dl.Dropped())
	}
	if !strings.Contains(logs.String(), "decision log write failed") {
		t.Errorf("log %q does not say the write failed", logs.String())
	}
}

// TestCloseDrains queues many decisions behind a slow writer and checks
// that Close writes them all.
func TestCloseDrains(t *testing.T) {
	const n = 5000
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	dl, _ := decisionlog.Open(decisionlog.Stdout, decisionlog.Options{Stdout: w, BufferSize: n, FlushInterval: time.Hour})
	for i := range n {
		req, d := testEntry(i, "r")
		dl.Observe(req, d, time.Millisecond)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(w.release)
	}()
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, []byte(w.out.String())); len(lines) != n || dl.Dropped() != 0 {
		t.Errorf("%d lines of %d, %d dropped", len(lines), n, dl.Dropped())
	}
}

// TestConcurrentObserve observes from many goroutines while the writer
// runs (run with -race): every decision is logged exactly once or counted
// as dropped.
func TestConcurrentObserve(t *testing.T) {
	const goroutines, each = 8, 2000
	for _, size := range []int{goroutines * each, 64} {
		t.Run(fmt.Sprintf("buffer=%d", size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), decisionlog.FileName)
			dl, err := decisionlog.Open(path, decisionlog.Options{BufferSize: size, FlushInterval: time.Millisecond,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						req, d := testEntry(g*each+i, "r")
						dl.Observe(req, d, time.Millisecond)
					}
				})
			}
			wg.Wait()
			if err := dl.Close(); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			seen := map[string]bool{}
			for _, l := range readLines(t, data) {
				if seen[l.DecisionID] {
					t.Fatalf("decision %s logged twice", l.DecisionID)
				}
				seen[l.DecisionID] = true
			}
			if uint64(len(seen))+dl.Dropped() != goroutines*each {
				t.Errorf("%d logged + %d dropped != %d", len(seen), dl.Dropped(), goroutines*each)
			}
			if size == goroutines*each && dl.Dropped() != 0 {
				t.Errorf("%d dropped with room for every decision", dl.Dropped())
			}
		})
	}
}
