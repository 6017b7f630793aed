package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/store/boltstore"
)

// TestMain lets the test binary act as the provost binary: with
// PROVOST_TEST_MAIN=1 it runs main() on its arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("PROVOST_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"provost"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

var servingRe = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startProcess runs `provost serve` as a real child process and returns it
// with its base URL once it listens.
func startProcess(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, string, *bytes.Buffer, *syncBuffer) {
	t.Helper()
	args := append([]string{"-test.run=^$", "--", "serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--policy-dir", repoRoot(t)}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PROVOST_TEST_MAIN=1", "PROVOST_ADMIN_TOKEN=serve-test-admin")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	logs := &syncBuffer{}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("provost serve exited before listening:\n%s", logs.String())
		}
		return cmd, "http://" + a, &out, logs
	case <-time.After(60 * time.Second):
		t.Fatalf("provost serve did not listen within 60 s:\n%s", logs.String())
	}
	return nil, "", nil, nil
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(x)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestServeDemoAndSIGTERM starts the real binary with the demo data, asks
// the decision the printed curl example asks, and stops it with SIGTERM:
// it exits 0 and leaves the store closed and intact.
func TestServeDemoAndSIGTERM(t *testing.T) {
	data := t.TempDir()
	cmd, base, stdout, logs := startProcess(t, data, "--demo")
	body := `{"subject":{"type":"user","id":"ironman"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`
	resp, err := http.Post(base+"/access/v1/evaluation", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(raw) != `{"decision":true}` {
		t.Fatalf("demo decision = %d %s, want 200 {\"decision\":true}", resp.StatusCode, raw)
	}
	if !strings.Contains(stdout.String(), "/access/v1/evaluation") {
		t.Errorf("no curl example printed: %q", stdout.String())
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `provost_decisions_total{action="studio.edit_content",decision="allow"} 1`; !strings.Contains(string(raw), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	// SIGHUP reloads the policy; the server keeps answering.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	reloaded := func() bool {
		l := logs.String()
		i := strings.Index(l, "trigger=SIGHUP")
		return i >= 0 && (strings.Contains(l[i:], "policy reload: no change") || strings.Contains(l[i:], "policy reloaded"))
	}
	for !reloaded() {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("provost serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("provost serve did not stop within 30 s of SIGTERM")
	}
	// Every decision answered is in the decision log.
	lines, err := os.ReadFile(filepath.Join(data, "decisions.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(lines), "\n"); n != 1 || !strings.Contains(string(lines), `"decision":true`) {
		t.Errorf("decision log = %q, want one allow line", lines)
	}
	// The store was closed cleanly: it opens at once, with the demo data.
	st, err := boltstore.Open(filepath.Join(data, StoreFile), boltstore.Options{Timeout: -1})
	if err != nil {
		t.Fatalf("store after shutdown: %v", err)
	}
	defer st.Close()
	if _, err := st.GetUser(context.Background(), "spiderman"); err != nil {
		t.Fatalf("demo user missing: %v", err)
	}
}

// TestServeRefusesBadConfig checks start-up errors: bad flags, an unknown
// pack, a store already held by another server.
func TestServeRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad addr", []string{"serve", "--addr", "nonsense"}, "--addr"},
		{"stray argument", []string{"serve", "extra"}, "unexpected argument"},
		{"unknown pack", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--pack", "nosuch", "--policy-dir", repoRoot(t)}, "unknown pack"},
		{"missing tokens file", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--tokens-file", filepath.Join(data, "none.yaml")}, "none.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(ctx, tt.args, &stdout, &stderr); code != exitError {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitError, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
		})
	}
	t.Run("store held by another server", func(t *testing.T) {
		held, err := boltstore.Open(filepath.Join(data, StoreFile), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--policy-dir", repoRoot(t)}, &stdout, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), "another provost serve") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
}
