package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/provost-lms/provost/adapters/boltadapter"
	"github.com/provost-lms/provost/internal/pack"
	"github.com/provost-lms/provost/internal/roles"
	"github.com/provost-lms/provost/internal/scope"
)

// ErrReload is wrapped by every error of Reload: the new policy was
// refused and the last valid one keeps serving.
var ErrReload = errors.New("policy reload failed")

// ReloadError is a refused reload: the file and line at fault when known,
// and what is wrong. It wraps ErrReload.
type ReloadError struct {
	File    string // "" when no one file is at fault
	Line    int    // 0 when unknown
	Message string
	Err     error // the underlying error, if any
}

// Error renders the error as "file:line: message".
func (e *ReloadError) Error() string {
	switch {
	case e.File == "":
		return e.Message
	case e.Line == 0:
		return e.File + ": " + e.Message
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
}

// Unwrap returns ErrReload and the underlying error.
func (e *ReloadError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrReload}
	}
	return []error{ErrReload, e.Err}
}

// Reload reads the pack again, checks its Casbin model and CSV, compiles
// it and runs its own tests (*_test.rego with OPA's tester); only when all
// pass does the new revision replace the one in use, in one atomic swap
// that no decision sees half done. When the model or the CSV changed, the
// role index is rebuilt from the store and the new CSV under the write
// lock, so that no write is lost. When nothing changed it does nothing.
//
// On failure the last valid revision keeps serving, the failure is logged
// ("maintaining last valid state") and the error, a *ReloadError wrapping
// ErrReload, names the file and line at fault. Every attempt is recorded
// for Status and reported to Options.OnReload. Calls are serialized.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	start := time.Now()
	cur := e.rev.Load()
	next, err := e.reload(ctx, cur)
	res := &ReloadResult{Result: ReloadSuccess, At: e.opts.Now().UTC()}
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil:
		res.Result, res.Error = ReloadFailure, err.Error()
		e.log.Error("policy reload failed; maintaining last valid state",
			"pack", cur.pack.Name, "revision", cur.id, "err", err, "took", took)
	case next == cur:
		e.log.Info("policy reload: no change", "pack", cur.pack.Name, "revision", cur.id)
	default:
		e.log.Info("policy reloaded", "pack", next.pack.Name, "revision", next.id,
			"previous", cur.id, "roles_rebuilt", next.index != cur.index, "took", took)
	}
	e.lastReload.Store(res)
	if e.opts.OnReload != nil {
		e.opts.OnReload(res.Result, err)
	}
	return err
}

// reload builds, checks and swaps in the next revision. It returns cur
// when the pack did not change. Caller holds reloadMu.
func (e *Engine) reload(ctx context.Context, cur *revision) (*revision, error) {
	p, err := pack.Load(e.opts.PolicyDir, e.opts.Pack)
	if err != nil {
		return nil, &ReloadError{Message: err.Error(), Err: err}
	}
	csvb, err := os.ReadFile(p.CSVPath)
	if err != nil {
		return nil, &ReloadError{File: p.CSVPath, Message: err.Error(), Err: err}
	}
	csv := string(csvb)
	if p.Revision == cur.pack.Revision && csv == cur.csv {
		return cur, nil
	}
	rolesChanged := p.Model != cur.pack.Model || csv != cur.csv
	ix := cur.index
	if rolesChanged {
		if err := checkCasbin(p, csv); err != nil {
			return nil, err
		}
		ix = roles.New()
	}
	next, err := e.compile(ctx, p, e.over, ix)
	if err != nil {
		return nil, policyError(err)
	}
	// The tests read only the Rego and data files: a change of the model
	// or the CSV alone keeps the verdict of the revision in use, and a
	// rollback to the revision replaced last keeps its verdict.
	next.tested = cur.tested && sameRego(cur.pack, p) || e.prev != nil && sameRego(e.prev, p)
	if !next.tested {
		if err := runPackTests(ctx, p); err != nil {
			return nil, err
		}
		next.tested = true
	}
	if rolesChanged {
		// Writes hold writeMu from their store commit to their index
		// update: holding it from the store read to the swap, every write
		// lands in the new index, through the store or the enforcer.
		e.writeMu.Lock()
		defer e.writeMu.Unlock()
		enf, err := e.loadCasbin(p, csv, ix)
		if err != nil {
			return nil, &ReloadError{File: p.CSVPath, Message: err.Error(), Err: err}
		}
		next.index, next.enforcer, next.csv = ix, enf, csv
	} else {
		next.index, next.enforcer, next.csv = cur.index, cur.enforcer, cur.csv
	}
	e.rev.Store(next)
	if cur.tested {
		e.prev = cur.pack
	}
	return next, nil
}

// sameRego reports whether a and b have the same Rego modules, tests,
// hooks, data and settings: the input of the pack's tests.
func sameRego(a, b *pack.Pack) bool {
	return a.Hooks == b.Hooks && maps.Equal(a.Modules, b.Modules) && maps.Equal(a.Tests, b.Tests) &&
		reflect.DeepEqual(a.Data, b.Data) && reflect.DeepEqual(a.Settings, b.Settings)
}

// policyError turns a compile or parse error into a *ReloadError at the
// first error's file and line.
func policyError(err error) *ReloadError {
	errs := astErrors(err)
	if len(errs) == 0 {
		return &ReloadError{Message: err.Error(), Err: err}
	}
	first := slices.MinFunc(errs, func(a, b *ast.Error) int {
		if a.Location == nil || b.Location == nil {
			return 0
		}
		return cmp.Or(strings.Compare(a.Location.File, b.Location.File), cmp.Compare(a.Location.Row, b.Location.Row))
	})
	re := &ReloadError{Message: first.Code + ": " + first.Message, Err: err}
	if first.Location != nil {
		re.File, re.Line = first.Location.File, first.Location.Row
	}
	if len(errs) > 1 {
		re.Message += fmt.Sprintf(" (and %d more errors)", len(errs)-1)
	}
	return re
}

// astErrors returns the parse and compile errors in err: OPA's rego
// package returns them as rego.Errors of ast.Errors, its compiler as
// ast.Errors.
func astErrors(err error) ast.Errors {
	var errs ast.Errors
	var rerrs rego.Errors
	var one *ast.Error
	switch {
	case errors.As(err, &errs):
		return errs
	case errors.As(err, &rerrs):
		var out ast.Errors
		for _, e := range rerrs {
			out = append(out, astErrors(e)...)
		}
		return out
	case errors.As(err, &one):
		return ast.Errors{one}
	}
	return nil
}

// checkCasbin checks the pack's model and CSV lines: the model parses, and
// the CSV holds only "p, role, kind" lines (roles valid at each kind of
// scope) and "g, role, implied, *" lines (inheritance), as `provost policy
// test` requires.
func checkCasbin(p *pack.Pack, csv string) error {
	m, err := model.NewModelFromString(p.Model)
	if err != nil {
		return &ReloadError{File: p.ModelPath, Message: err.Error(), Err: err}
	}
	for _, sec := range [][2]string{{"p", "p"}, {"g", "g"}} {
		if _, err := m.GetAssertion(sec[0], sec[1]); err != nil {
			return &ReloadError{File: p.ModelPath, Message: fmt.Sprintf("the model needs a %s definition: %v", sec[1], err), Err: err}
		}
	}
	kinds := []string{scope.Global, scope.Org, scope.Course, scope.Library, scope.Cohort}
	nP := 0
	for i, raw := range strings.Split(csv, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return &ReloadError{File: p.CSVPath, Line: i + 1, Message: fmt.Sprintf(format, args...)}
		}
		f := strings.Split(line, ",")
		for j := range f {
			f[j] = strings.TrimSpace(f[j])
		}
		switch f[0] {
		case "p":
			if len(f) != 3 || f[1] == "" || !slices.Contains(kinds, f[2]) {
				return bad("want p, role, kind with kind one of %s", strings.Join(kinds, ", "))
			}
			nP++
		case "g":
			if len(f) != 4 || f[1] == "" || f[2] == "" || f[3] != roles.AnyScope {
				return bad("want g, role, implied, * (role inheritance; assignments live in the store)")
			}
		default:
			return bad("unknown line type %q: want p or g", f[0])
		}
		if err := persist.LoadPolicyLine(line, m); err != nil {
			return &ReloadError{File: p.CSVPath, Line: i + 1, Message: err.Error(), Err: err}
		}
	}
	if nP == 0 {
		return &ReloadError{File: p.CSVPath, Message: "no p lines (roles valid at each kind of scope)"}
	}
	return nil
}

// runPackTests runs the pack's *_test.rego with OPA's tester over what
// pack.Load read (the pure-Rego hooks, the data files and settings.json),
// as `provost policy test` and stock `opa test rego/<pack>` do.
func runPackTests(ctx context.Context, p *pack.Pack) error {
	mods := make(map[string]*ast.Module, len(p.Modules)+len(p.Tests)+1)
	parse := func(path, src string) error {
		m, err := ast.ParseModuleWithOpts(path, src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return policyError(err)
		}
		mods[path] = m
		return nil
	}
	if err := parse(filepath.Join(p.RegoDir, pack.HooksFile), p.Hooks); err != nil {
		return err
	}
	for _, set := range []map[string]string{p.Modules, p.Tests} {
		for _, path := range slices.Sorted(maps.Keys(set)) {
			if err := parse(path, set[path]); err != nil {
				return err
			}
		}
	}
	data, err := testData(p)
	if err != nil {
		return err
	}
	ch, err := tester.NewRunner().SetStore(inmem.NewFromObject(data)).SetModules(mods).RunTests(ctx, nil)
	if err != nil {
		return policyError(err)
	}
	var failed []*tester.Result
	n := 0
	for r := range ch {
		n++
		if r.Fail || r.Error != nil {
			failed = append(failed, r)
		}
	}
	if n == 0 {
		return &ReloadError{File: p.RegoDir, Message: "no *_test.rego tests: the pack's tests must pass before a reload"}
	}
	if len(failed) == 0 {
		return nil
	}
	slices.SortFunc(failed, func(a, b *tester.Result) int {
		if a.Location == nil || b.Location == nil {
			return strings.Compare(a.Name, b.Name)
		}
		return cmp.Or(strings.Compare(a.Location.File, b.Location.File), cmp.Compare(a.Location.Row, b.Location.Row))
	})
	f := failed[0]
	msg := fmt.Sprintf("test %s.%s failed", f.Package, f.Name)
	if f.Error != nil {
		msg = fmt.Sprintf("test %s.%s: error: %v", f.Package, f.Name, f.Error)
	}
	re := &ReloadError{Message: fmt.Sprintf("%s (%d of %d tests of pack %s failed)", msg, len(failed), n, p.Name), Err: f.Error}
	if f.Location != nil {
		re.File, re.Line = f.Location.File, f.Location.Row
	}
	return re
}

// testData is the data document of the pack's tests as OPA's loader builds
// it from rego/<pack>: each JSON file's content at the path of its
// directory, settings.json included.
func testData(p *pack.Pack) (map[string]any, error) {
	root := map[string]any{}
	if len(p.Settings) > 0 {
		root["settings"] = p.Settings
	}
	for _, path := range slices.Sorted(maps.Keys(p.Data)) {
		doc := p.Data[path]
		rel, err := filepath.Rel(p.RegoDir, filepath.Dir(path))
		if err != nil {
			return nil, &ReloadError{File: path, Message: err.Error(), Err: err}
		}
		if rel != "." {
			keys := strings.Split(filepath.ToSlash(rel), "/")
			for i := len(keys) - 1; i >= 0; i-- {
				doc = map[string]any{keys[i]: doc}
			}
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, &ReloadError{File: path, Message: "a data file at the root of the pack must hold a JSON object"}
		}
		if err := mergeData(root, obj, nil); err != nil {
			return nil, &ReloadError{File: path, Message: err.Error()}
		}
	}
	return root, nil
}

// mergeData merges src into dst; objects merge, anything else conflicts.
func mergeData(dst, src map[string]any, at []string) error {
	for k, v := range src {
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		om, ok1 := old.(map[string]any)
		vm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("data.%s is defined twice", strings.Join(append(at, k), "."))
		}
		// Copy before merging: the pack's documents are not ours to change.
		om = maps.Clone(om)
		dst[k] = om
		if err := mergeData(om, vm, append(at, k)); err != nil {
			return err
		}
	}
	return nil
}

// packAdapter loads a revision's pack lines from the CSV content it was
// read with (so that the role index matches the revision exactly), then
// the store's assignments through the bbolt adapter, which also serves
// Casbin's writes (unused: the engine writes the store itself).
type packAdapter struct {
	*boltadapter.Adapter
	path, csv string
}

// LoadPolicy loads the pack lines and then every stored assignment.
func (a packAdapter) LoadPolicy(m model.Model) error {
	for i, line := range strings.Split(a.csv, "\n") {
		if err := persist.LoadPolicyLine(strings.TrimSpace(line), m); err != nil {
			return fmt.Errorf("load %s:%d: %w", a.path, i+1, err)
		}
	}
	return a.Adapter.LoadPolicy(m)
}

// liveIndex reaches a role index through get: the index of the revision
// in use (Engine.index) or a fixed one (the built-ins of a revision being
// compiled). It has the methods of roles.Index the engine calls.
type liveIndex struct{ get func() *roles.Index }

func (l liveIndex) Roles(user, sc string) []string       { return l.get().Roles(user, sc) }
func (l liveIndex) DirectRoles(user, sc string) []string { return l.get().DirectRoles(user, sc) }
func (l liveIndex) HolderCount(role, sc string) int      { return l.get().HolderCount(role, sc) }
func (l liveIndex) Scopes(user, role string) []string    { return l.get().Scopes(user, role) }
func (l liveIndex) Members(sc, role string) []string     { return l.get().Members(sc, role) }
func (l liveIndex) Implies(role string) []string         { return l.get().Implies(role) }
func (l liveIndex) HasUser(user string) bool             { return l.get().HasUser(user) }
func (l liveIndex) Grants(user string) [][2]string       { return l.get().Grants(user) }
func (l liveIndex) Len() int                             { return l.get().Len() }
func (l liveIndex) ScopeList() []string                  { return l.get().ScopeList() }
func (l liveIndex) ForEachUser(fn func(user string))     { l.get().ForEachUser(fn) }

// liveEnforcer reaches the Casbin enforcer of the revision in use, for
// writes (under writeMu, which a reload that rebuilds roles holds too).
type liveEnforcer struct{ get func() *casbin.SyncedEnforcer }

func (l liveEnforcer) AddGroupingPoliciesEx(rules [][]string) (bool, error) {
	return l.get().AddGroupingPoliciesEx(rules)
}

func (l liveEnforcer) RemoveGroupingPolicies(rules [][]string) (bool, error) {
	return l.get().RemoveGroupingPolicies(rules)
}
