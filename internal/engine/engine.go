// Package engine answers Provost's decisions. Casbin (the model, the pack's
// CSV and the store's assignments, through the bbolt adapter into the role
// index) answers who holds which role where; the pack's Rego, prepared once
// per revision, answers what the roles and attributes allow, reaching the
// role index through the provost.* built-ins that replace package hooks.
//
// The combining rule: a request is allowed exactly when the pack's `deny`
// set is empty and its `allow` set is not. Every error — a malformed
// request, an evaluation error, a policy conflict — is a deny.
//
// The decision path reads only memory: the current revision (its prepared
// queries and the role index they read, swapped together in one atomic
// store by Reload) and the catalog. Writes commit to the store first and
// then update the in-memory state.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/provost-lms/provost/adapters/boltadapter"
	"github.com/provost-lms/provost/internal/catalog"
	"github.com/provost-lms/provost/internal/pack"
	"github.com/provost-lms/provost/internal/roles"
	"github.com/provost-lms/provost/internal/scope"
	"github.com/provost-lms/provost/internal/store"
)

// Options configure an Engine.
type Options struct {
	Store     store.Store
	PolicyDir string
	Pack      string
	// Settings override the pack's settings.json (tests, fixtures).
	Settings map[string]any
	Logger   *slog.Logger
	// Now is the clock used for audit entries; time.Now when nil.
	Now func() time.Time
	// Observe, when set, is called after every decision asked with Decide
	// (not the internal ones of searches and write checks) with the
	// request, the decision and the time it took. It runs on the decision
	// path: it must not block (metrics, a buffered decision log).
	Observe func(req *Request, d *Decision, took time.Duration)
	// OnReload, when set, is called after every policy reload attempt with
	// its result (ReloadSuccess or ReloadFailure) and error.
	OnReload func(result string, err error)
}

// Engine decides requests and applies management writes.
type Engine struct {
	opts    Options
	log     *slog.Logger
	store   store.Store
	catalog *catalog.Catalog
	// index and enforcer reach the role index and the Casbin enforcer of
	// the revision in use; writes use them under writeMu (reload.go).
	index    liveIndex
	enforcer liveEnforcer

	rev        atomic.Pointer[revision]
	lastReload atomic.Pointer[ReloadResult]
	writeMu    sync.Mutex
	// reloadMu serializes Reload and SetSettings; over, the settings
	// overrides, is read and written under it.
	reloadMu sync.Mutex
	over     map[string]any
	// prev is the pack of the revision the last reload replaced, if its
	// tests passed: rolling back to it needs no new test run.
	prev *pack.Pack

	idPrefix string
	idSeq    atomic.Uint64
}

// revision is one compiled policy: replaced as a whole, never mutated.
type revision struct {
	id       string
	pack     *pack.Pack
	settings map[string]any
	decide   rego.PreparedEvalQuery
	whyNot   rego.PreparedEvalQuery
	resCand  rego.PreparedEvalQuery
	subjCand rego.PreparedEvalQuery
	scopeErr rego.PreparedEvalQuery
	actions  map[string][]string
	loadedAt time.Time
	// index holds the store's assignments and the inheritance of csv (the
	// content of the pack's CSV it was built from); the built-ins of this
	// revision read it, so that a decision sees one consistent pair of
	// Rego and roles. enforcer is Casbin over that index.
	index    *roles.Index
	enforcer *casbin.SyncedEnforcer
	csv      string
	// tested is set when the pack's own tests passed on this revision's
	// Rego and data (Reload runs them; Open does not).
	tested bool
}

// Open loads the pack, the store's assignments (through Casbin) and the
// store's users and resources, and compiles the pack.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p, err := pack.Load(opts.PolicyDir, opts.Pack)
	if err != nil {
		return nil, err
	}
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	csv, err := os.ReadFile(p.CSVPath)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	e := &Engine{
		opts:     opts,
		log:      opts.Logger,
		store:    opts.Store,
		catalog:  catalog.New(),
		over:     maps.Clone(opts.Settings),
		idPrefix: hex.EncodeToString(prefix[:]),
	}
	e.index = liveIndex{get: func() *roles.Index { return e.rev.Load().index }}
	e.enforcer = liveEnforcer{get: func() *casbin.SyncedEnforcer { return e.rev.Load().enforcer }}
	ix := roles.New()
	enf, err := e.loadCasbin(p, string(csv), ix)
	if err != nil {
		return nil, err
	}
	if err := e.loadCatalog(ctx); err != nil {
		return nil, err
	}
	rev, err := e.compile(ctx, p, e.over, ix)
	if err != nil {
		return nil, err
	}
	rev.index, rev.enforcer, rev.csv = ix, enf, string(csv)
	e.rev.Store(rev)
	return e, nil
}

// loadCasbin builds a Casbin enforcer over ix from the pack's model, the
// pack's CSV lines (csv, the file's content) and the store's assignments.
func (e *Engine) loadCasbin(p *pack.Pack, csv string, ix *roles.Index) (*casbin.SyncedEnforcer, error) {
	m, err := model.NewModelFromString(p.Model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.ModelPath, err)
	}
	enf, err := casbin.NewSyncedEnforcer()
	if err != nil {
		return nil, err
	}
	// Set the model and role manager first so that loading builds our index.
	if err := enf.InitWithModelAndAdapter(m, nil); err != nil {
		return nil, err
	}
	// After Init, which turns auto-save on: the engine writes the store
	// itself (with the audit entry, in one transaction) before it updates
	// Casbin in memory.
	enf.EnableAutoSave(false)
	enf.EnableLog(false)
	enf.SetRoleManager(ix)
	enf.AddFunction("scopeKind", func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, errors.New("scopeKind takes one argument")
		}
		s, _ := args[0].(string)
		return scope.Kind(s), nil
	})
	enf.SetAdapter(packAdapter{Adapter: boltadapter.New("", e.store), path: p.CSVPath, csv: csv})
	if err := enf.LoadPolicy(); err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return enf, nil
}

func (e *Engine) loadCatalog(ctx context.Context) error {
	if err := e.store.ForEachUser(ctx, func(u store.User) error {
		e.catalog.PutUser(u)
		return nil
	}); err != nil {
		return err
	}
	return e.store.ForEachResource(ctx, func(r store.Resource) error {
		e.catalog.PutResource(r)
		return nil
	})
}

// compile prepares the pack's queries for a revision whose built-ins read
// the role index ix. The caller sets the revision's index and enforcer.
func (e *Engine) compile(ctx context.Context, p *pack.Pack, over map[string]any, ix *roles.Index) (*revision, error) {
	settings := p.SettingsWith(over)
	rev := &revision{pack: p, settings: settings, loadedAt: time.Now()}
	rev.id = p.Revision
	if len(over) > 0 {
		rev.id += "+" + strconv.Itoa(len(over))
	}
	st := inmem.NewFromObject(map[string]any{"settings": settings})
	// The built-ins capture their receiver's index and catalog (and read
	// nothing else of it): give them ix, not the index of the revision in
	// use.
	bound := &Engine{index: liveIndex{get: func() *roles.Index { return ix }}, catalog: e.catalog}
	builtins := bound.builtins()
	// The first query compiles the modules; the others reuse its compiler.
	var compiler *ast.Compiler
	first := []func(*rego.Rego){rego.Store(st), rego.Module("provost/hooks.rego", hooksModule),
		rego.CompilerHook(func(c *ast.Compiler) { compiler = c })}
	for path, src := range p.Modules {
		first = append(first, rego.Module(path, src))
	}
	pkg := "data." + p.Name
	var err error
	first = append(append(first, builtins...), rego.Query(fmt.Sprintf("allow = %s.allow; deny = %s.deny", pkg, pkg)))
	if rev.decide, err = rego.New(first...).PrepareForEval(ctx); err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		opts := append([]func(*rego.Rego){rego.Compiler(compiler), rego.Store(st), rego.Query(query)}, builtins...)
		return rego.New(opts...).PrepareForEval(ctx)
	}
	// why_not is evaluated only for a deny that no deny rule explains.
	if rev.whyNot, err = prepare(pkg + ".why_not"); err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	if rev.resCand, err = prepare(pkg + ".resource_candidates"); err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	if rev.subjCand, err = prepare(pkg + ".subject_candidates"); err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	if rev.scopeErr, err = prepare(pkg + ".scope_errors"); err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	actq, err := prepare(pkg + ".actions")
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.Name, err)
	}
	rs, err := actq.Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("pack %s: actions: %w", p.Name, err)
	}
	rev.actions = map[string][]string{}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		if m, ok := rs[0].Expressions[0].Value.(map[string]any); ok {
			for typ, v := range m {
				list, _ := v.([]any)
				for _, a := range list {
					if s, ok := a.(string); ok {
						rev.actions[typ] = append(rev.actions[typ], s)
					}
				}
				slices.Sort(rev.actions[typ])
				rev.actions[typ] = slices.Compact(rev.actions[typ])
			}
		}
	}
	if len(rev.actions) == 0 {
		return nil, fmt.Errorf("pack %s: %s.actions is missing or empty", p.Name, pkg)
	}
	return rev, nil
}

// Revision returns the id of the policy revision in use.
func (e *Engine) Revision() string { return e.rev.Load().id }

// Pack returns the name of the pack in use.
func (e *Engine) Pack() string { return e.rev.Load().pack.Name }

// Actions returns the pack's actions on a resource type, sorted.
func (e *Engine) Actions(resourceType string) []string {
	return slices.Clone(e.rev.Load().actions[resourceType])
}

// Settings returns the settings of the revision in use.
func (e *Engine) Settings() map[string]any { return e.rev.Load().settings }

// SetSettings recompiles the pack with settings overrides (replacing any
// earlier ones) and swaps it in. The overrides outlive reloads.
func (e *Engine) SetSettings(ctx context.Context, over map[string]any) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	cur := e.rev.Load()
	rev, err := e.compile(ctx, cur.pack, over, cur.index)
	if err != nil {
		return err
	}
	rev.index, rev.enforcer, rev.csv, rev.tested = cur.index, cur.enforcer, cur.csv, cur.tested
	e.over = maps.Clone(over)
	e.rev.Store(rev)
	return nil
}

// Close releases the engine; the store is closed by its owner.
func (e *Engine) Close() error { return nil }

func (e *Engine) newID() string {
	return e.idPrefix + "-" + strconv.FormatUint(e.idSeq.Add(1), 10)
}

// Decide evaluates one request. It never returns an allow on error: a
// panic while deciding is recovered into a deny with Error set.
func (e *Engine) Decide(ctx context.Context, req *Request) Decision {
	if e.opts.Observe == nil {
		return e.decide(ctx, req)
	}
	start := time.Now()
	d := e.decide(ctx, req)
	e.opts.Observe(req, &d, time.Since(start))
	return d
}

// decide evaluates one request without observing it: searches and the
// checks of management writes use it, so that only requests asked of the
// engine are counted and logged.
func (e *Engine) decide(ctx context.Context, req *Request) (d Decision) {
	rev := e.rev.Load()
	d = Decision{ID: e.newID(), Revision: rev.id}
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("decision panicked; denying", "decision_id", d.ID, "panic", r)
			d.Allow, d.Reason, d.Error = false, "evaluation error", fmt.Sprintf("panic: %v", r)
		}
	}()
	if err := validate(req, true, true); err != nil {
		d.Reason = "malformed request: " + err.Error()
		return d
	}
	if req.Resource.Type == "role" {
		if err := e.checkRoleResource(ctx, rev, req); err != nil {
			d.Reason = err.Error()
			return d
		}
	}
	input := rego.EvalParsedInput(e.input(req, true))
	rs, err := rev.decide.Eval(ctx, input)
	if err != nil {
		d.Reason, d.Error = "evaluation error", err.Error()
		return d
	}
	if len(rs) != 1 {
		d.Reason, d.Error = "evaluation error", "the pack's allow/deny rules are undefined"
		return d
	}
	allow := sortedStrings(rs[0].Bindings["allow"])
	deny := sortedStrings(rs[0].Bindings["deny"])
	switch {
	case len(deny) > 0:
		d.Reason = deny[0]
	case len(allow) > 0:
		d.Allow, d.Reason = true, allow[0]
	default:
		if why, err := rev.whyNot.Eval(ctx, input); err == nil && len(why) == 1 && len(why[0].Expressions) == 1 {
			d.Reason, _ = why[0].Expressions[0].Value.(string)
		}
		if d.Reason == "" {
			d.Reason = fmt.Sprintf("no rule of pack %s allows %s on %s", rev.pack.Name, req.Action.Name, req.Resource.Type)
		}
	}
	return d
}

func sortedStrings(v any) []string {
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// checkRoleResource checks a role resource: its scope and target user
// properties, and that the role is valid at that scope for the pack.
func (e *Engine) checkRoleResource(ctx context.Context, rev *revision, req *Request) error {
	sc, _ := req.Resource.Properties["scope"].(string)
	user, _ := req.Resource.Properties["user"].(string)
	switch {
	case sc == "":
		return errors.New("malformed role scope: a role resource needs a string properties.scope")
	case user == "":
		return errors.New("malformed request: a role resource needs a string properties.user (the target user)")
	}
	return e.validateAssignment(ctx, rev, store.Assignment{User: user, Role: req.Resource.ID, Scope: sc})
}

// validateAssignment checks the scope syntax, the pack's scope rules and
// that the role may be assigned at that kind of scope.
func (e *Engine) validateAssignment(ctx context.Context, rev *revision, a store.Assignment) error {
	if err := checkField("user", a.User, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sc, err := scope.Parse(a.Scope)
	if err != nil {
		return fmt.Errorf("%w: malformed role scope: %v", ErrInvalid, err)
	}
	ok, err := rev.enforcer.HasPolicy(a.Role, sc.Kind)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !ok {
		if any, _ := rev.enforcer.GetFilteredPolicy(1, sc.Kind); len(any) == 0 {
			return fmt.Errorf("%w: malformed role scope: pack %s assigns no roles at %s scope", ErrInvalid, rev.pack.Name, sc.Kind)
		}
		return fmt.Errorf("%w: role %q is not valid at %s scope in pack %s", ErrInvalid, a.Role, sc.Kind, rev.pack.Name)
	}
	in := ast.NewObject(
		ast.Item(ast.StringTerm("scope"), ast.StringTerm(a.Scope)),
		ast.Item(ast.StringTerm("role"), ast.StringTerm(a.Role)),
	)
	rs, err := rev.scopeErr.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return fmt.Errorf("%w: checking scope %q: %v", ErrInvalid, a.Scope, err)
	}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		if msgs := sortedStrings(rs[0].Expressions[0].Value); len(msgs) > 0 {
			return fmt.Errorf("%w: malformed role scope: %s", ErrInvalid, msgs[0])
		}
	}
	return nil
}

// input builds the Rego input: stored properties merged with the request's.
func (e *Engine) input(req *Request, withResourceID bool) ast.Value {
	subj := ast.NewObject(ast.Item(ast.StringTerm("type"), ast.StringTerm(req.Subject.Type)))
	if req.Subject.ID != "" {
		subj.Insert(ast.StringTerm("id"), ast.StringTerm(req.Subject.ID))
	}
	subj.Insert(ast.StringTerm("properties"), ast.NewTerm(e.subjectProps(req)))
	res := ast.NewObject(ast.Item(ast.StringTerm("type"), ast.StringTerm(req.Resource.Type)))
	if withResourceID && req.Resource.ID != "" {
		res.Insert(ast.StringTerm("id"), ast.StringTerm(req.Resource.ID))
	}
	res.Insert(ast.StringTerm("properties"), ast.NewTerm(e.resourceProps(req, withResourceID)))
	ctxv := ast.Value(ast.NewObject())
	if len(req.Context) > 0 {
		if v, err := ast.InterfaceToValue(req.Context); err == nil {
			ctxv = v
		}
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("subject"), ast.NewTerm(subj)),
		ast.Item(ast.StringTerm("action"), ast.ObjectTerm(ast.Item(ast.StringTerm("name"), ast.StringTerm(req.Action.Name)))),
		ast.Item(ast.StringTerm("resource"), ast.NewTerm(res)),
		ast.Item(ast.StringTerm("context"), ast.NewTerm(ctxv)),
	)
}

var (
	termIsActive = ast.StringTerm("is_active")
	termFalse    = ast.BooleanTerm(false)
)

// defaultUserProps are the properties of a user never written.
var defaultUserProps = ast.NewObject(
	ast.Item(ast.StringTerm("is_active"), ast.BooleanTerm(true)),
	ast.Item(ast.StringTerm("is_staff"), ast.BooleanTerm(false)),
	ast.Item(ast.StringTerm("is_superuser"), ast.BooleanTerm(false)),
)

func (e *Engine) subjectProps(req *Request) ast.Object {
	stored := defaultUserProps
	if req.Subject.ID != "" {
		if _, o, ok := e.catalog.User(req.Subject.ID); ok {
			stored = o
		}
	}
	if len(req.Subject.Properties) == 0 {
		return stored
	}
	out := stored.Copy()
	storedInactive := ast.Boolean(false).Equal(valueOf(stored.Get(termIsActive)))
	for k, v := range req.Subject.Properties {
		if tv, err := ast.InterfaceToValue(v); err == nil {
			out.Insert(ast.StringTerm(k), ast.NewTerm(tv))
		}
	}
	if storedInactive {
		out.Insert(termIsActive, termFalse)
	}
	return out
}

func valueOf(t *ast.Term) ast.Value {
	if t == nil {
		return ast.Null{}
	}
	return t.Value
}

func (e *Engine) resourceProps(req *Request, withID bool) ast.Object {
	var stored ast.Object
	if withID && req.Resource.ID != "" {
		stored, _ = e.catalog.Resource(req.Resource.Type, req.Resource.ID)
	}
	if len(req.Resource.Properties) == 0 {
		if stored == nil {
			return ast.NewObject()
		}
		return stored
	}
	var out ast.Object
	if stored == nil {
		out = ast.NewObject()
	} else {
		out = stored.Copy()
	}
	for k, v := range req.Resource.Properties {
		if tv, err := ast.InterfaceToValue(v); err == nil {
			out.Insert(ast.StringTerm(k), ast.NewTerm(tv))
		}
	}
	return out
}
