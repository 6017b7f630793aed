package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/watch"
)

// reloadCourse is a course no test of the pack uses: rules about it leave
// the pack's tests passing.
const reloadCourse = "course-v1:Reload+R1+2026"

// reloadBudget is how long a change may take to be in effect: 2 s; under
// the race detector, which slows the pack's tests (1 s) about sixfold, 30 s.
func reloadBudget() time.Duration {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return 30 * time.Second
			}
		}
	}
	return 2 * time.Second
}

// reloadServer is a server over a temporary copy of the policy directory.
type reloadServer struct {
	*testServer
	dir      string
	failures atomic.Int64 // OnReload calls with a failure
	watcher  *watch.Watcher
}

// startReloadServer starts a server over a copy of the policy with metrics
// wired as provost serve wires them, an instructor "ins" and a
// data_researcher "dr" of reloadCourse, and a manage-only token. With
// watched set, a watcher reloads the engine as provost serve does.
func startReloadServer(t *testing.T, watched bool) *reloadServer {
	t.Helper()
	rs := &reloadServer{dir: t.TempDir()}
	for _, name := range []string{"policies", "rego"} {
		if err := os.CopyFS(filepath.Join(rs.dir, name), os.DirFS(filepath.Join(policyDir, name))); err != nil {
			t.Fatal(err)
		}
	}
	model, err := os.ReadFile(filepath.Join(policyDir, "model.conf"))
	if err != nil {
		t.Fatal(err)
	}
	rs.write(t, "model.conf", string(model))
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	rs.write(t, tokens, fmt.Sprintf("tokens:\n- name: lms\n  sha256: %x\n  scopes: [manage]\n", sha256.Sum256([]byte(manageToken))))
	toks, err := server.LoadTokens(tokens)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{})
	counted := m.ReloadObserver()
	rs.testServer = startServer(t, serverOpts{policyDir: rs.dir, cfg: server.Config{Tokens: toks, Metrics: m},
		engineOpts: func(o *engine.Options) {
			o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			o.OnReload = func(result string, err error) {
				counted(result, err)
				if result == engine.ReloadFailure {
					rs.failures.Add(1)
				}
			}
		},
		seed: func(e *engine.Engine) {
			seedAssignments(t, e, store.Assignment{User: "ins", Role: "instructor", Scope: "course:" + reloadCourse},
				store.Assignment{User: "dr", Role: "data_researcher", Scope: "course:" + reloadCourse})
		}})
	if watched {
		w, err := watch.New([]string{filepath.Join(rs.dir, "model.conf"), filepath.Join(rs.dir, "policies"), filepath.Join(rs.dir, "rego")},
			watch.DefaultDebounce, func() { _ = rs.Engine.Reload(context.Background()) })
		if err != nil {
			t.Fatal(err)
		}
		rs.watcher = w
		t.Cleanup(func() { w.Close() })
	}
	return rs
}

// write writes a file of the policy directory (or an absolute path).
func (rs *reloadServer) write(t *testing.T, name, content string) {
	t.Helper()
	if !filepath.IsAbs(name) {
		name = filepath.Join(rs.dir, name)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (rs *reloadServer) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rs.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new in a file of the policy directory, saving it
// the way editors do: a new file renamed over the old one.
func (rs *reloadServer) edit(t *testing.T, name, old, new string) {
	t.Helper()
	src := rs.read(t, name)
	if !strings.Contains(src, old) {
		t.Fatalf("%s has no %q", name, old)
	}
	tmp := filepath.Join(rs.dir, name+".tmp")
	rs.write(t, tmp, strings.Replace(src, old, new, 1))
	if err := os.Rename(tmp, filepath.Join(rs.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// answer is a decision as a string ("allow: reason" or "deny: reason").
func (rs *reloadServer) answer(t *testing.T, user, action, typ, id string) string {
	t.Helper()
	r := rs.do("POST", "/access/v1/evaluation", map[string]any{
		"subject": map[string]any{"type": "user", "id": user}, "action": map[string]any{"name": action},
		"resource": map[string]any{"type": typ, "id": id}, "context": map[string]any{"explain": true}}, "")
	if r.Status != 200 {
		t.Fatalf("evaluation = %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	ctx, _ := body["context"].(map[string]any)
	if e, _ := ctx["error"].(string); e != "" {
		t.Fatalf("evaluation error: %s", r.Body)
	}
	verdict := "deny"
	if body["decision"] == true {
		verdict = "allow"
	}
	return fmt.Sprintf("%s: %v", verdict, ctx["reason"])
}

func (rs *reloadServer) editReload(t *testing.T, user string) string {
	t.Helper()
	return rs.answer(t, user, "studio.edit_content", "course", reloadCourse)
}

// waitFor polls cond until it holds and returns how long that took; it
// fails the test after the reload budget (a change in effect within 2 s).
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return waitWithin(t, what, reloadBudget(), cond)
}

// waitRefused waits for a refusal or a recovery to be reported: no time
// promise is made about those, so the budget only bounds the test.
func waitRefused(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return waitWithin(t, what, 10*reloadBudget(), cond)
}

func waitWithin(t *testing.T, what string, budget time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > budget {
			t.Fatalf("%s: not in effect after %v", what, budget)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: in effect after %v", what, took.Round(time.Millisecond))
	return took
}

// lastReload reads last_reload of GET /v1/status.
func (rs *reloadServer) lastReload(t *testing.T) (result, errMsg, revision string) {
	t.Helper()
	r := rs.do("GET", "/v1/status", nil, adminToken)
	if r.Status != 200 {
		t.Fatalf("status = %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	lr, _ := body["last_reload"].(map[string]any)
	result, _ = lr["result"].(string)
	errMsg, _ = lr["error"].(string)
	revision, _ = body["revision"].(string)
	return result, errMsg, revision
}

// checkFailureMetric checks that provost_policy_reloads_total{result="failure"}
// counts every failure reported to OnReload.
func (rs *reloadServer) checkFailureMetric(t *testing.T) {
	t.Helper()
	r := rs.do("GET", "/metrics", nil, "")
	want := fmt.Sprint(rs.failures.Load())
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, `provost_policy_reloads_total{result="failure"} `); ok {
			if v != want {
				t.Fatalf("provost_policy_reloads_total{result=\"failure\"} = %s, want %s", v, want)
			}
			return
		}
	}
	t.Fatalf("no failure series in /metrics")
}

// maintenance denies ins studio.edit_content on reloadCourse.
const maintenance = `
deny contains "course in maintenance" if {
	input.action.name == "studio.edit_content"
	input.resource.id == "` + reloadCourse + `"
	input.subject.id == "ins"
}
`

// TestReloadWatched edits the policy of a running server through the
// watcher: a change is in effect within 2 s; a broken file and a change
// that fails the pack's tests are refused (the last good policy serves,
// the failure shows in /v1/status, the metrics and OnReload) until fixed.
func TestReloadWatched(t *testing.T) {
	rs := startReloadServer(t, true)
	const allowed = "allow: instructor of the course or its org"
	if a := rs.editReload(t, "ins"); a != allowed {
		t.Fatalf("before: %s", a)
	}
	rs.edit(t, "rego/openedx/studio.rego", "# Course creation", maintenance+"\n# Course creation")
	withMaintenance := rs.read(t, "rego/openedx/studio.rego")
	waitFor(t, "rule edited", func() bool { return rs.editReload(t, "ins") == "deny: course in maintenance" })
	_, _, good := rs.lastReload(t)

	// A syntax error: refused, the edited policy keeps serving.
	rs.write(t, "rego/openedx/broken.rego", "package openedx\n\nimport rego.v1\n\nallow contains \"x\" if {\n")
	waitRefused(t, "broken file refused", func() bool { return rs.failures.Load() > 0 })
	result, msg, rev := rs.lastReload(t)
	if result != engine.ReloadFailure || !strings.Contains(msg, filepath.Join("rego", "openedx", "broken.rego")+":6: rego_parse_error") || rev != good {
		t.Fatalf("status after a broken file: %s %q revision %s (good %s)", result, msg, rev, good)
	}
	if a := rs.editReload(t, "ins"); a != "deny: course in maintenance" {
		t.Fatalf("decision with a broken file: %s", a)
	}
	rs.checkFailureMetric(t)
	// Fixed: recovery.
	if err := os.Remove(filepath.Join(rs.dir, "rego/openedx/broken.rego")); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, "broken file removed", func() bool { r, _, _ := rs.lastReload(t); return r == engine.ReloadSuccess })

	// A change that fails the pack's own tests: refused the same way.
	failed := rs.failures.Load()
	rs.edit(t, "rego/openedx/studio.rego", `studio_staff := {"view_content", "edit_content", "view_users"}`, `studio_staff := {"view_content", "edit_content"}`)
	waitRefused(t, "change failing the tests refused", func() bool { return rs.failures.Load() > failed })
	result, msg, rev = rs.lastReload(t)
	if result != engine.ReloadFailure || !strings.Contains(msg, "openedx_test.rego:") || !strings.Contains(msg, "test data.openedx_test.") || rev != good {
		t.Fatalf("status after a failing test: %s %q revision %s", result, msg, rev)
	}
	rs.checkFailureMetric(t)
	if a := rs.answer(t, "ins", "studio.view_users", "course", reloadCourse); !strings.HasPrefix(a, "allow") {
		t.Fatalf("decision with a refused change: %s", a)
	}
	// Fixed (back to the policy in use): recovery.
	rs.write(t, "rego/openedx/studio.rego", withMaintenance)
	waitRefused(t, "change failing the tests undone", func() bool { r, _, _ := rs.lastReload(t); return r == engine.ReloadSuccess })

	// settings.json: course creation needs a creator role.
	create := func() string { return rs.answer(t, "nobody", "course.create", "org", "Reload") }
	if a := create(); !strings.HasPrefix(a, "allow") {
		t.Fatalf("course.create before: %s", a)
	}
	rs.edit(t, "rego/openedx/settings.json", `"ENABLE_CREATOR_GROUP": false`, `"ENABLE_CREATOR_GROUP": true`)
	waitFor(t, "settings.json edited", func() bool { return strings.HasPrefix(create(), "deny") })

	// The CSV: a new inheritance line; the assignments are kept.
	if a := rs.editReload(t, "dr"); !strings.HasPrefix(a, "deny") {
		t.Fatalf("data_researcher before: %s", a)
	}
	rs.edit(t, "policies/openedx.csv", "g, staff, limited_staff, *", "g, staff, limited_staff, *\ng, data_researcher, staff, *")
	waitFor(t, "inheritance line added", func() bool { return rs.editReload(t, "dr") == "allow: staff of the course or its org" })
	if a := rs.editReload(t, "ins"); a != "deny: course in maintenance" {
		t.Fatalf("instructor after the CSV change: %s", a)
	}
	rs.checkFailureMetric(t)
}

// TestReloadUnderLoad hammers evaluations from several goroutines while the
// policy alternates 50 times between two revisions that differ in both
// their Rego and their role inheritance: no request fails and every answer
// is the answer of one revision, never of a mix.
func TestReloadUnderLoad(t *testing.T) {
	rs := startReloadServer(t, false)
	ctx := context.Background()
	csvA := rs.read(t, "policies/openedx.csv")
	csvB := strings.Replace(csvA, "g, staff, limited_staff, *", "g, staff, limited_staff, *\ng, data_researcher, staff, *", 1)
	// Revision B makes data_researchers staff (CSV) and denies staff
	// researchers edits (Rego): a decision that mixed B's roles with A's
	// Rego would allow.
	regoB := "package openedx\n\nimport rego.v1\n" + `
deny contains "staff researchers are read-only here" if {
	input.action.name == "studio.edit_content"
	input.resource.id == "` + reloadCourse + `"
	"data_researcher" in roles
	"staff" in roles
}
`
	extra := filepath.Join(rs.dir, "rego", "openedx", "reload_b.rego")
	setRevision := func(b bool) {
		if b {
			rs.write(t, extra, regoB)
			rs.write(t, "policies/openedx.csv", csvB)
		} else {
			if err := os.Remove(extra); err != nil {
				t.Fatal(err)
			}
			rs.write(t, "policies/openedx.csv", csvA)
		}
		start := time.Now()
		if err := rs.Engine.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > reloadBudget() {
			t.Errorf("reload took %v", took)
		}
	}
	queries := []struct{ user, action string }{{"dr", "studio.edit_content"}, {"ins", "studio.edit_content"}, {"dr", "studio.view_content"}}
	answers := func() []string {
		var out []string
		for _, q := range queries {
			out = append(out, rs.answer(t, q.user, q.action, "course", reloadCourse))
		}
		return out
	}
	ansA := answers()
	setRevision(true)
	ansB := answers()
	if ansA[0] == ansB[0] || ansA[2] == ansB[2] {
		t.Fatalf("the revisions answer alike: %q and %q", ansA, ansB)
	}
	t.Logf("revision A: %q; revision B: %q", ansA, ansB)

	var done atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; i < 20000 && !done.Load(); i++ {
				k := (g + i) % len(queries)
				q := queries[k]
				r := rs.do("POST", "/access/v1/evaluation", map[string]any{
					"subject": map[string]any{"type": "user", "id": q.user}, "action": map[string]any{"name": q.action},
					"resource": map[string]any{"type": "course", "id": reloadCourse}, "context": map[string]any{"explain": true}}, "")
				if r.Status != 200 {
					t.Errorf("evaluation = %d %s", r.Status, r.Body)
					return
				}
				body := r.JSON(t)
				c, _ := body["context"].(map[string]any)
				if e, _ := c["error"].(string); e != "" {
					t.Errorf("evaluation error: %s", r.Body)
					return
				}
				verdict := "deny"
				if body["decision"] == true {
					verdict = "allow"
				}
				a := fmt.Sprintf("%s: %v", verdict, c["reason"])
				if a != ansA[k] && a != ansB[k] {
					t.Errorf("%s %s: %q is the answer of neither revision (%q, %q)", q.user, q.action, a, ansA[k], ansB[k])
					return
				}
				mu.Lock()
				seen[a]++
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range 50 {
		setRevision(i%2 == 1) // from B: A, B, A, …; ends on B
	}
	took := time.Since(start)
	done.Store(true)
	wg.Wait()
	// Connections the client dialed for the hammer but never used would
	// hold the server's shutdown for 5 s.
	http.DefaultClient.CloseIdleConnections()
	t.Logf("50 reloads in %v (%v each); answers: %v", took.Round(time.Millisecond), (took / 50).Round(time.Millisecond), seen)
	if got := answers(); strings.Join(got, "|") != strings.Join(ansB, "|") {
		t.Fatalf("after the reloads: %q, want %q", got, ansB)
	}
	if rs.failures.Load() != 0 {
		t.Fatalf("%d reloads failed", rs.failures.Load())
	}
}

// TestReloadEndpoint checks POST /v1/policy/reload: admin only, 200 with
// the revision, 422 reload_failed for a broken policy.
func TestReloadEndpoint(t *testing.T) {
	rs := startReloadServer(t, false)
	expectResp(t, "no token", rs.do("POST", "/v1/policy/reload", nil, ""), 401, server.CodeUnauthorized)
	expectResp(t, "manage token", rs.do("POST", "/v1/policy/reload", nil, manageToken), 403, server.CodeForbidden)
	r := rs.do("POST", "/v1/policy/reload", nil, adminToken)
	expectResp(t, "admin token", r, 200, "")
	if b := r.JSON(t); b["result"] != "success" || b["revision"] != rs.Engine.Revision() {
		t.Fatalf("reload = %s", r.Body)
	}
	rs.write(t, "rego/openedx/broken.rego", "package openedx\n\nimport rego.v1\n\nallow contains x if {\n\tx := no_such_function(1)\n}\n")
	r = rs.do("POST", "/v1/policy/reload", nil, adminToken)
	expectResp(t, "broken policy", r, 422, server.CodeReloadFailed)
	e, _ := r.JSON(t)["error"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, "broken.rego:6: rego_type_error: undefined function no_such_function") {
		t.Fatalf("422 message %q", msg)
	}
	if rs.failures.Load() != 1 {
		t.Fatalf("OnReload failures = %d", rs.failures.Load())
	}
	if err := os.Remove(filepath.Join(rs.dir, "rego/openedx/broken.rego")); err != nil {
		t.Fatal(err)
	}
	expectResp(t, "fixed", rs.do("POST", "/v1/policy/reload", nil, adminToken), 200, "")
}
