package watch_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/watch"
)

const debounce = 50 * time.Millisecond

// setup makes a policy-like directory (model.conf, policies/x.csv,
// rego/p/a.rego) and watches model.conf, policies and rego.
func setup(t *testing.T) (string, *watch.Watcher, chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"model.conf", "policies/x.csv", "rego/p/a.rego"} {
		write(t, filepath.Join(dir, f), "v0")
	}
	calls := make(chan struct{}, 100)
	w, err := watch.New([]string{filepath.Join(dir, "model.conf"), filepath.Join(dir, "policies"), filepath.Join(dir, "rego")},
		debounce, func() { calls <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return dir, w, calls
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameOver saves path the way vim and most tools do: a new file renamed
// over the old one.
func renameOver(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// expectCalls waits for the burst to settle and checks the number of calls.
func expectCalls(t *testing.T, calls chan struct{}, min, max int, what string) {
	t.Helper()
	n := 0
	deadline := time.After(2 * time.Second)
	for n < min {
		select {
		case <-calls:
			n++
		case <-deadline:
			t.Fatalf("%s: %d calls after 2 s, want %d", what, n, min)
		}
	}
	quiet := time.After(4 * debounce)
	for {
		select {
		case <-calls:
			n++
		case <-quiet:
			if n > max {
				t.Fatalf("%s: %d calls, want at most %d", what, n, max)
			}
			return
		}
	}
}

func TestWatch(t *testing.T) {
	dir, _, calls := setup(t)
	write(t, filepath.Join(dir, "rego/p/a.rego"), "v1")
	expectCalls(t, calls, 1, 1, "write in a tree")

	write(t, filepath.Join(dir, "model.conf"), "v1")
	expectCalls(t, calls, 1, 1, "write to a file")

	// Renamed over: the watches survive, a second save counts too.
	for i := range 2 {
		renameOver(t, filepath.Join(dir, "model.conf"), fmt.Sprint("r", i))
		expectCalls(t, calls, 1, 1, "rename over a file")
		renameOver(t, filepath.Join(dir, "rego/p/a.rego"), fmt.Sprint("r", i))
		expectCalls(t, calls, 1, 1, "rename over a file in a tree")
	}

	// A burst of writes makes one call.
	for i := range 30 {
		write(t, filepath.Join(dir, "rego/p/a.rego"), fmt.Sprint("b", i))
		write(t, filepath.Join(dir, "policies/x.csv"), fmt.Sprint("b", i))
	}
	expectCalls(t, calls, 1, 1, "burst")

	// A new file and a new directory; then a file in that directory.
	write(t, filepath.Join(dir, "rego/p/b.rego"), "new")
	expectCalls(t, calls, 1, 1, "new file")
	write(t, filepath.Join(dir, "rego/q/sub/c.rego"), "new")
	expectCalls(t, calls, 1, 1, "new directory")
	write(t, filepath.Join(dir, "rego/q/sub/c.rego"), "changed")
	expectCalls(t, calls, 1, 1, "write in a new directory")

	// Editor scratch files, other files next to a watched file and
	// permission changes do not count.
	write(t, filepath.Join(dir, "rego/p/.a.rego.swp"), "x")
	write(t, filepath.Join(dir, "rego/p/4913"), "x")
	write(t, filepath.Join(dir, "rego/p/a.rego~"), "x")
	write(t, filepath.Join(dir, "README"), "x")
	if err := os.Chmod(filepath.Join(dir, "rego/p/a.rego"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 0, 0, "scratch files")

	// Removing a file counts.
	if err := os.Remove(filepath.Join(dir, "rego/p/b.rego")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 1, "removed file")
}

func TestWatchReplacedTree(t *testing.T) {
	dir, _, calls := setup(t)
	rego := filepath.Join(dir, "rego")
	write(t, filepath.Join(dir, "rego.new/p/a.rego"), "new")
	if err := os.Rename(rego, filepath.Join(dir, "rego.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "rego.new"), rego); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 1, "tree replaced")
	write(t, filepath.Join(rego, "p/a.rego"), "changed")
	expectCalls(t, calls, 1, 1, "write in the new tree")
	// The old tree is no longer watched.
	write(t, filepath.Join(dir, "rego.old/p/a.rego"), "changed")
	expectCalls(t, calls, 0, 0, "write in the old tree")

	// A tree removed and created again.
	if err := os.RemoveAll(filepath.Join(dir, "policies")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 1, "tree removed")
	write(t, filepath.Join(dir, "policies/x.csv"), "back")
	expectCalls(t, calls, 1, 1, "tree back")
	write(t, filepath.Join(dir, "policies/x.csv"), "changed")
	expectCalls(t, calls, 1, 1, "write in the tree back")
}

func TestWatchMissingPathAndClose(t *testing.T) {
	dir := t.TempDir()
	calls := make(chan struct{}, 10)
	before := runtime.NumGoroutine()
	w, err := watch.New([]string{filepath.Join(dir, "model.conf"), filepath.Join(dir, "rego")}, debounce, func() { calls <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rego/p/a.rego"), "v0")
	expectCalls(t, calls, 1, 1, "missing tree created")
	write(t, filepath.Join(dir, "rego/p/a.rego"), "v1")
	expectCalls(t, calls, 1, 1, "write in the created tree")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "model.conf"), "v1")
	expectCalls(t, calls, 0, 0, "after Close")
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after Close, %d before New", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := watch.New([]string{filepath.Join(dir, "no/such/file")}, debounce, func() {}); err == nil {
		t.Fatal("New with a missing directory succeeded")
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		"a.rego": false, "settings.json": false, "openedx.csv": false,
		".a.rego.swp": true, ".#a.rego": true, "a.rego~": true, "#a.rego#": true, "4913": true, "a.tmp": true,
	} {
		if got := watch.Ignored(name); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", name, got, want)
		}
	}
}
