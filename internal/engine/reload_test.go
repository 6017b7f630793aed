package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
)

// copyPolicy copies model.conf, policies/ and rego/ of the repository into
// a temporary policy directory.
func copyPolicy(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"model.conf", "policies", "rego"} {
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(filepath.Join(policyDir, name))); err != nil {
			// CopyFS copies a directory; model.conf is a file.
			b, rerr := os.ReadFile(filepath.Join(policyDir, name))
			if rerr != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editFile replaces old with new in path; old must occur.
func editFile(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// reloads counts the OnReload calls by result.
type reloads struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *reloads) hook(result string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (result == engine.ReloadFailure) != (err != nil) {
		panic(fmt.Sprintf("OnReload(%q, %v)", result, err))
	}
	r.n[result]++
}

func (r *reloads) count(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

// openReloadable opens an engine over a temporary copy of the policy with
// an instructor "ins" and a data_researcher "dr" of CS101.
func openReloadable(t *testing.T) (*engine.Engine, string, *reloads) {
	t.Helper()
	dir := copyPolicy(t)
	st := openStore(t)
	rl := &reloads{n: map[string]int{}}
	e, err := engine.Open(context.Background(), engine.Options{Store: st, PolicyDir: dir, Pack: "openedx",
		OnReload: rl.hook, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.Assignment{{User: "ins", Role: "instructor", Scope: scope1}, {User: "ins", Role: "instructor", Scope: "course:" + reloadCourse},
		{User: "dr", Role: "data_researcher", Scope: scope1}} {
		if _, err := e.Grant(context.Background(), a, ""); err != nil {
			t.Fatal(err)
		}
	}
	return e, dir, rl
}

// reloadCourse is a course no pack test uses.
const reloadCourse = "course-v1:Reload+R1+2026"

func editReloadCourse(user string) *engine.Request {
	r := editContent(user)
	r.Resource.ID = reloadCourse
	return r
}

// maintenanceRego denies studio.edit_content on reloadCourse: the pack's
// tests still pass.
const maintenanceRego = `package openedx

import rego.v1

deny contains "course in maintenance" if {
	input.action.name == "studio.edit_content"
	input.resource.id == "` + reloadCourse + `"
}
`

func TestReloadRego(t *testing.T) {
	ctx := context.Background()
	e, dir, rl := openReloadable(t)
	rev0 := e.Revision()
	if d := e.Decide(ctx, editReloadCourse("ins")); !d.Allow {
		t.Fatalf("before: %+v", d)
	}
	// No change: success, same revision.
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != rev0 || rl.count(engine.ReloadSuccess) != 1 {
		t.Fatalf("unchanged reload: revision %s (was %s), %d successes", e.Revision(), rev0, rl.count(engine.ReloadSuccess))
	}
	writeFile(t, filepath.Join(dir, "rego", "openedx", "maintenance.rego"), maintenanceRego)
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(ctx, editReloadCourse("ins")); d.Allow || d.Reason != "course in maintenance" || d.Revision == rev0 {
		t.Fatalf("after: %+v", d)
	}
	st := e.Status(ctx)
	if st.LastReload.Result != engine.ReloadSuccess || st.LastReload.At.IsZero() || st.Revision == rev0 {
		t.Fatalf("status: %+v", st)
	}
	// Settings overrides outlive a reload.
	if err := e.SetSettings(ctx, map[string]any{"DISABLE_ADVANCED_SETTINGS": true}); err != nil {
		t.Fatal(err)
	}
	advanced := editReloadCourse("ins")
	advanced.Action.Name = "studio.edit_advanced_settings"
	if e.Decide(ctx, advanced).Allow {
		t.Fatal("DISABLE_ADVANCED_SETTINGS override ignored")
	}
	// One reload for two changes: the rule removed, a flag of settings.json set.
	if err := os.Remove(filepath.Join(dir, "rego", "openedx", "maintenance.rego")); err != nil {
		t.Fatal(err)
	}
	editFile(t, filepath.Join(dir, "rego", "openedx", "settings.json"), `"ENABLE_CREATOR_GROUP": false`, `"ENABLE_CREATOR_GROUP": true`)
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !e.Decide(ctx, editReloadCourse("ins")).Allow {
		t.Fatal("maintenance rule still applies after its removal")
	}
	create := &engine.Request{Subject: engine.Entity{Type: "user", ID: "nobody"}, Action: engine.Action{Name: "course.create"},
		Resource: engine.Entity{Type: "org", ID: "Marvel"}}
	if d := e.Decide(ctx, create); d.Allow {
		t.Fatalf("ENABLE_CREATOR_GROUP of settings.json ignored: %+v", d)
	}
	if e.Decide(ctx, advanced).Allow || !strings.HasSuffix(e.Revision(), "+1") {
		t.Fatalf("the settings override did not survive the reload (revision %s)", e.Revision())
	}
	if rl.count(engine.ReloadSuccess) != 3 || rl.count(engine.ReloadFailure) != 0 {
		t.Fatalf("OnReload: %v", rl.n)
	}
}

func TestReloadRefused(t *testing.T) {
	ctx := context.Background()
	e, dir, rl := openReloadable(t)
	rev0 := e.Revision()
	studio := filepath.Join(dir, "rego", "openedx", "studio.rego")
	broken := filepath.Join(dir, "rego", "openedx", "broken.rego")
	csv := filepath.Join(dir, "policies", "openedx.csv")
	orig, err := os.ReadFile(studio)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		edit     func()
		undo     func()
		file     string
		contains string
	}{
		{"syntax error", func() { writeFile(t, broken, "package openedx\n\nimport rego.v1\n\nallow contains \"x\" if {\n") },
			func() { os.Remove(broken) }, broken, "rego_parse_error"},
		{"type error", func() {
			writeFile(t, broken, "package openedx\n\nimport rego.v1\n\nallow contains x if {\n\tx := no_such_function(1)\n}\n")
		},
			func() { os.Remove(broken) }, broken, "rego_type_error"},
		// The pack's tests check that course staff have exactly these bits.
		{"failing pack test", func() {
			editFile(t, studio, `studio_staff := {"view_content", "edit_content", "view_users"}`, `studio_staff := {"view_content", "edit_content"}`)
		}, func() { writeFile(t, studio, string(orig)) }, "openedx_test.rego", "failed"},
		{"bad CSV line", func() { editFile(t, csv, "g, staff, limited_staff, *", "g, alice, staff, course:x") },
			func() { editFile(t, csv, "g, alice, staff, course:x", "g, staff, limited_staff, *") }, csv, "want g, role, implied, *"},
	}
	for i, c := range cases {
		c.edit()
		err := e.Reload(ctx)
		var re *engine.ReloadError
		if !errors.Is(err, engine.ErrReload) || !errors.As(err, &re) {
			t.Fatalf("%s: Reload = %v, want a ReloadError", c.name, err)
		}
		if !strings.HasSuffix(re.File, c.file) || re.Line == 0 || !strings.Contains(re.Message, c.contains) {
			t.Errorf("%s: error = %q (file %q, line %d)", c.name, err, re.File, re.Line)
		}
		if d := e.Decide(ctx, editContent("ins")); !d.Allow || d.Revision != rev0 {
			t.Errorf("%s: the last valid policy does not serve: %+v", c.name, d)
		}
		st := e.Status(ctx)
		if st.LastReload.Result != engine.ReloadFailure || st.LastReload.Error != err.Error() || st.Revision != rev0 {
			t.Errorf("%s: status %+v", c.name, st)
		}
		if rl.count(engine.ReloadFailure) != i+1 {
			t.Errorf("%s: %d failures reported", c.name, rl.count(engine.ReloadFailure))
		}
		t.Logf("%s: %v", c.name, err)
		c.undo()
		if err := e.Reload(ctx); err != nil {
			t.Fatalf("%s: recovery: %v", c.name, err)
		}
		if st := e.Status(ctx); st.LastReload.Result != engine.ReloadSuccess || st.LastReload.Error != "" {
			t.Errorf("%s: status after recovery %+v", c.name, st)
		}
	}
}

func TestReloadRoles(t *testing.T) {
	ctx := context.Background()
	e, dir, _ := openReloadable(t)
	if e.Decide(ctx, editContent("dr")).Allow {
		t.Fatal("a data_researcher edits content before the change")
	}
	before := e.Status(ctx).Counts["assignments"]
	csv := filepath.Join(dir, "policies", "openedx.csv")
	editFile(t, csv, "g, staff, limited_staff, *", "g, staff, limited_staff, *\ng, data_researcher, staff, *")
	// Writes during reloads land in the index in use.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 40 {
			a := store.Assignment{User: fmt.Sprintf("u%d", i), Role: "staff", Scope: scope1}
			if _, err := e.Grant(ctx, a, ""); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 3 {
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		editFile(t, csv, "\n", "\n\n") // a change that rebuilds the roles again
	}
	wg.Wait()
	if d := e.Decide(ctx, editContent("dr")); !d.Allow {
		t.Fatalf("inheritance line ignored: %+v", d)
	}
	if got := e.Status(ctx).Counts["assignments"]; got != before+40 {
		t.Fatalf("assignments = %d, want %d", got, before+40)
	}
	for i := range 40 {
		if !e.Decide(ctx, editContent(fmt.Sprintf("u%d", i))).Allow {
			t.Fatalf("grant to u%d lost across reloads", i)
		}
	}
	// A role valid at a new kind of scope is accepted by writes at once.
	a := store.Assignment{User: "dr2", Role: "data_researcher", Scope: "library:library-v1:Marvel+L1"}
	if err := e.ValidateAssignment(ctx, a); err == nil {
		t.Fatal("data_researcher valid at library scope before the change")
	}
	editFile(t, csv, "p, library_user, library", "p, library_user, library\np, data_researcher, library")
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.ValidateAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
}
