package boltadapter_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/provost-lms/provost/adapters/boltadapter"
	"github.com/provost-lms/provost/internal/roles"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

var ctx = context.Background()

// repoRoot is the repository root, computed from this file's location.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func packCSV(t *testing.T) string   { return filepath.Join(repoRoot(t), "policies", "openedx.csv") }
func modelPath(t *testing.T) string { return filepath.Join(repoRoot(t), "model.conf") }

func openStore(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newModel(t *testing.T) model.Model {
	t.Helper()
	m, err := model.NewModelFromFile(modelPath(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func grant(t *testing.T, st store.Store, as ...store.Assignment) {
	t.Helper()
	if err := st.Apply(ctx, store.Change{Grant: as}); err != nil {
		t.Fatal(err)
	}
}

// stored returns the store's assignments as g rules, in store order.
func stored(t *testing.T, st store.Store) [][]string {
	t.Helper()
	var out [][]string
	err := st.ForEachAssignment(ctx, store.AssignmentFilter{}, func(a store.Assignment) error {
		out = append(out, []string{a.User, a.Role, a.Scope})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// csvLines reads the pack CSV independently of Casbin: the p lines and the
// g lines, without the ptype.
func csvLines(t *testing.T) (p, g [][]string) {
	t.Helper()
	f, err := os.Open(packCSV(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		switch fields[0] {
		case "p":
			p = append(p, fields[1:])
		case "g":
			g = append(g, fields[1:])
		default:
			t.Fatalf("unexpected line in pack CSV: %q", line)
		}
	}
	if len(p) == 0 || len(g) == 0 {
		t.Fatalf("pack CSV has %d p lines and %d g lines; want both", len(p), len(g))
	}
	return p, g
}

func sortRules(rs [][]string) [][]string {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b []string) int { return slices.Compare(a, b) })
	return rs
}

func equalRules(a, b [][]string) bool {
	return slices.EqualFunc(sortRules(a), sortRules(b), slices.Equal)
}

var (
	aliceInstructor = store.Assignment{User: "alice", Role: "instructor", Scope: "course:course-v1:Marvel+CS101+2026"}
	bobStaff        = store.Assignment{User: "bob", Role: "staff", Scope: "org:Marvel"}
	carolBeta       = store.Assignment{User: "carol", Role: "beta_tester", Scope: "course:course-v1:Marvel+CS101+2026"}
	carolStaff      = store.Assignment{User: "carol", Role: "staff", Scope: "course:course-v1:DC+X+1"}
	frankCreator    = store.Assignment{User: "frank", Role: "course_creator", Scope: "global"}
)

func rule(a store.Assignment) []string { return []string{a.User, a.Role, a.Scope} }

func TestLoadPolicy(t *testing.T) {
	st := openStore(t)
	grant(t, st, aliceInstructor, bobStaff, carolBeta, frankCreator)
	m := newModel(t)
	if err := boltadapter.New(packCSV(t), st).LoadPolicy(m); err != nil {
		t.Fatal(err)
	}
	wantP, wantG := csvLines(t)
	gotP, _ := m.GetPolicy("p", "p")
	if !equalRules(gotP, wantP) {
		t.Errorf("p lines = %v, want the pack's %v", gotP, wantP)
	}
	wantG = append(wantG, rule(aliceInstructor), rule(bobStaff), rule(carolBeta), rule(frankCreator))
	gotG, _ := m.GetPolicy("g", "g")
	if !equalRules(gotG, wantG) {
		t.Errorf("g lines = %v, want pack inheritance plus stored assignments %v", gotG, wantG)
	}
	// The model's lookup map knows the stored assignments (Casbin's
	// HasPolicy, and duplicate detection on AddPolicy, rely on it).
	for _, r := range wantG {
		if ok, err := m.HasPolicy("g", "g", r); err != nil || !ok {
			t.Errorf("HasPolicy(g, %v) = %v, %v after LoadPolicy; want true", r, ok, err)
		}
	}
	if ok, _ := m.HasPolicy("g", "g", []string{"alice", "instructor", "org:Marvel"}); ok {
		t.Error("HasPolicy of an assignment that is not stored = true")
	}

	t.Run("no pack file", func(t *testing.T) {
		m := newModel(t)
		if err := boltadapter.New("", st).LoadPolicy(m); err != nil {
			t.Fatal(err)
		}
		if p, _ := m.GetPolicy("p", "p"); len(p) != 0 {
			t.Errorf("p lines = %v without a pack file", p)
		}
		if g, _ := m.GetPolicy("g", "g"); len(g) != 4 {
			t.Errorf("g lines = %v, want the 4 stored assignments", g)
		}
	})
	t.Run("missing pack file", func(t *testing.T) {
		err := boltadapter.New(filepath.Join(t.TempDir(), "nosuch.csv"), st).LoadPolicy(newModel(t))
		if err == nil {
			t.Fatal("LoadPolicy with a missing pack file: no error")
		}
	})
	t.Run("into an enforcer with the role index", func(t *testing.T) {
		enf, ix := newEnforcer(t, st)
		if ix.Len() != 4 {
			t.Errorf("index Len = %d, want 4 stored assignments", ix.Len())
		}
		for _, c := range []struct {
			user, role, scope string
			want              bool
		}{
			{"alice", "staff", aliceInstructor.Scope, true}, // stored grant + pack inheritance
			{"bob", "staff", aliceInstructor.Scope, true},   // stored org grant, contained course
			{"frank", "course_creator", "global", true},
			{"carol", "staff", aliceInstructor.Scope, false},
		} {
			if got, err := enf.Enforce(c.user, c.role, c.scope); err != nil || got != c.want {
				t.Errorf("Enforce(%s, %s, %s) = %v, %v; want %v", c.user, c.role, c.scope, got, err, c.want)
			}
		}
	})
}

// newEnforcer is a Casbin enforcer over the adapter with auto-save on, so
// that every Casbin management call goes through the adapter.
func newEnforcer(t *testing.T, st store.Store) (*casbin.SyncedEnforcer, *roles.Index) {
	t.Helper()
	enf, err := casbin.NewSyncedEnforcer(modelPath(t))
	if err != nil {
		t.Fatal(err)
	}
	enf.EnableLog(false)
	ix := roles.New()
	enf.SetRoleManager(ix)
	enf.AddFunction("scopeKind", func(args ...any) (any, error) {
		s, _ := args[0].(string)
		k, _, _ := strings.Cut(s, ":")
		return k, nil
	})
	enf.SetAdapter(boltadapter.New(packCSV(t), st))
	enf.EnableAutoSave(true)
	if err := enf.LoadPolicy(); err != nil {
		t.Fatal(err)
	}
	return enf, ix
}

func TestAddRemovePolicies(t *testing.T) {
	st := openStore(t)
	a := boltadapter.New(packCSV(t), st)
	rules := [][]string{rule(aliceInstructor), rule(bobStaff), rule(carolBeta)}
	if err := a.AddPolicies("g", "g", rules); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, st); !equalRules(got, rules) {
		t.Fatalf("store after AddPolicies = %v, want %v", got, rules)
	}
	// Adding what is held is a no-op, not an error.
	if err := a.AddPolicies("g", "g", rules[:1]); err != nil {
		t.Errorf("AddPolicies of a held assignment: %v", err)
	}
	if err := a.AddPolicy("g", "g", rule(frankCreator)); err != nil {
		t.Fatal(err)
	}
	if err := a.RemovePolicies("g", "g", [][]string{rule(aliceInstructor), rule(carolBeta)}); err != nil {
		t.Fatal(err)
	}
	if got, want := stored(t, st), [][]string{rule(bobStaff), rule(frankCreator)}; !equalRules(got, want) {
		t.Fatalf("store after RemovePolicies = %v, want %v", got, want)
	}
	if err := a.RemovePolicy("g", "g", rule(bobStaff)); err != nil {
		t.Fatal(err)
	}
	if got, want := stored(t, st), [][]string{rule(frankCreator)}; !equalRules(got, want) {
		t.Fatalf("store after RemovePolicy = %v, want %v", got, want)
	}

	// One transaction: a batch the store refuses in part writes nothing.
	bad := [][]string{rule(aliceInstructor), {"bad\x00user", "staff", "org:Marvel"}}
	err := a.AddPolicies("g", "g", bad)
	if !errors.Is(err, boltstore.ErrInvalid) {
		t.Errorf("AddPolicies with a NUL user = %v, want ErrInvalid", err)
	}
	if got, want := stored(t, st), [][]string{rule(frankCreator)}; !equalRules(got, want) {
		t.Errorf("store after a refused batch = %v, want unchanged %v", got, want)
	}
	err = a.RemovePolicies("g", "g", [][]string{rule(frankCreator), {"", "staff", "org:Marvel"}})
	if !errors.Is(err, boltstore.ErrInvalid) {
		t.Errorf("RemovePolicies with an empty user = %v, want ErrInvalid", err)
	}
	if got, want := stored(t, st), [][]string{rule(frankCreator)}; !equalRules(got, want) {
		t.Errorf("store after a refused revoke batch = %v, want unchanged %v", got, want)
	}
}

func TestReadOnlyLines(t *testing.T) {
	st := openStore(t)
	grant(t, st, bobStaff)
	a := boltadapter.New(packCSV(t), st)
	before := stored(t, st)
	tests := []struct {
		name string
		call func() error
	}{
		{"AddPolicy p", func() error { return a.AddPolicy("p", "p", []string{"wizard", "course"}) }},
		{"AddPolicies p", func() error { return a.AddPolicies("p", "p", [][]string{{"wizard", "course"}}) }},
		{"RemovePolicy p", func() error { return a.RemovePolicy("p", "p", []string{"staff", "course"}) }},
		{"RemovePolicies p", func() error { return a.RemovePolicies("p", "p", [][]string{{"staff", "course"}}) }},
		{"RemoveFilteredPolicy p", func() error { return a.RemoveFilteredPolicy("p", "p", 0, "staff") }},
		{"AddPolicy inheritance", func() error { return a.AddPolicy("g", "g", []string{"staff", "beta_tester", "*"}) }},
		{"RemovePolicy inheritance", func() error { return a.RemovePolicy("g", "g", []string{"instructor", "staff", "*"}) }},
		{"AddPolicies valid + inheritance", func() error {
			return a.AddPolicies("g", "g", [][]string{rule(aliceInstructor), {"staff", "beta_tester", "*"}})
		}},
		{"RemovePolicies valid + inheritance", func() error {
			return a.RemovePolicies("g", "g", [][]string{rule(bobStaff), {"instructor", "staff", "*"}})
		}},
		{"AddPolicies wrong arity", func() error { return a.AddPolicies("g", "g", [][]string{rule(aliceInstructor), {"alice", "staff"}}) }},
		{"RemoveFilteredPolicy inheritance scope", func() error { return a.RemoveFilteredPolicy("g", "g", 2, "*") }},
		{"RemoveFilteredPolicy matching a pack line", func() error { return a.RemoveFilteredPolicy("g", "g", 0, "instructor", "staff") }},
		{"RemoveFilteredPolicy by role matching a pack line", func() error { return a.RemoveFilteredPolicy("g", "g", 1, "staff") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, boltadapter.ErrReadOnlyLine) {
				t.Errorf("err = %v, want ErrReadOnlyLine", err)
			}
			if got := stored(t, st); !equalRules(got, before) {
				t.Errorf("store = %v, want unchanged %v", got, before)
			}
		})
	}

	t.Run("through Casbin", func(t *testing.T) {
		enf, ix := newEnforcer(t, st)
		if _, err := enf.AddPolicy("wizard", "course"); !errors.Is(err, boltadapter.ErrReadOnlyLine) {
			t.Errorf("Enforcer.AddPolicy(p) = %v, want ErrReadOnlyLine", err)
		}
		if ok, _ := enf.HasPolicy("wizard", "course"); ok {
			t.Error("the refused p line is in the model")
		}
		if _, err := enf.RemoveGroupingPolicy("instructor", "staff", "*"); !errors.Is(err, boltadapter.ErrReadOnlyLine) {
			t.Errorf("Enforcer.RemoveGroupingPolicy(inheritance) = %v, want ErrReadOnlyLine", err)
		}
		if _, err := enf.RemoveFilteredGroupingPolicy(1, "staff"); !errors.Is(err, boltadapter.ErrReadOnlyLine) {
			t.Errorf("Enforcer.RemoveFilteredGroupingPolicy(role staff) = %v, want ErrReadOnlyLine (it matches g, instructor, staff, *)", err)
		}
		if got := ix.Implies("instructor"); !slices.Contains(got, "staff") {
			t.Errorf("Implies(instructor) = %v: a refused removal changed the inheritance in memory", got)
		}
		if got := stored(t, st); !equalRules(got, before) {
			t.Errorf("store = %v, want unchanged %v", got, before)
		}
		// Assignments do go through.
		if ok, err := enf.AddGroupingPolicy(rule(aliceInstructor)); err != nil || !ok {
			t.Fatalf("AddGroupingPolicy(assignment) = %v, %v", ok, err)
		}
		if got, want := stored(t, st), append(slices.Clone(before), rule(aliceInstructor)); !equalRules(got, want) {
			t.Errorf("store = %v, want %v", got, want)
		}
		if ok, err := enf.RemoveFilteredGroupingPolicy(1, "staff", "org:Marvel"); err != nil || !ok {
			t.Fatalf("RemoveFilteredGroupingPolicy(staff at org:Marvel) = %v, %v", ok, err)
		}
		if got, want := stored(t, st), [][]string{rule(aliceInstructor)}; !equalRules(got, want) {
			t.Errorf("store = %v, want %v", got, want)
		}
		if ok, _ := enf.Enforce("bob", "staff", "org:Marvel"); ok {
			t.Error("bob still staff after the filtered removal")
		}
	})
}

func TestSavePolicy(t *testing.T) {
	st := openStore(t)
	grant(t, st, aliceInstructor, bobStaff, carolBeta)
	a := boltadapter.New(packCSV(t), st)
	m := newModel(t)
	if err := a.LoadPolicy(m); err != nil {
		t.Fatal(err)
	}
	// Edit the model: drop bob and carol, add two, keep alice and the pack lines.
	if _, err := m.RemovePolicy("g", "g", rule(bobStaff)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RemovePolicy("g", "g", rule(carolBeta)); err != nil {
		t.Fatal(err)
	}
	for _, as := range []store.Assignment{carolStaff, frankCreator} {
		if err := m.AddPolicy("g", "g", rule(as)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(-time.Second)
	if err := a.SavePolicy(m); err != nil {
		t.Fatal(err)
	}
	want := [][]string{rule(aliceInstructor), rule(carolStaff), rule(frankCreator)}
	if got := stored(t, st); !equalRules(got, want) {
		t.Errorf("store after SavePolicy = %v, want the model's assignments %v (no pack lines)", got, want)
	}
	audit, err := st.ListAudit(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Action != "policy.save" {
		t.Fatalf("audit = %+v, want one policy.save entry", audit)
	}
	if g, r := audit[0].Details["granted"], audit[0].Details["revoked"]; g != float64(2) || r != float64(2) {
		t.Errorf("audit details granted=%v revoked=%v, want 2 and 2", g, r)
	}
	// Saving an unchanged model writes nothing, not even an audit entry.
	if err := a.SavePolicy(m); err != nil {
		t.Fatal(err)
	}
	if audit, _ := st.ListAudit(ctx, start, 0); len(audit) != 1 {
		t.Errorf("audit has %d entries after saving an unchanged model, want 1", len(audit))
	}
	// Saving a model without assignments empties the store.
	empty := newModel(t)
	if err := a.SavePolicy(empty); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, st); len(got) != 0 {
		t.Errorf("store after saving an empty model = %v, want empty", got)
	}
}

func TestRemoveFilteredPolicy(t *testing.T) {
	all := []store.Assignment{aliceInstructor, bobStaff, carolBeta, carolStaff, frankCreator,
		{User: "bob", Role: "staff", Scope: "course:course-v1:DC+X+1"}}
	tests := []struct {
		name       string
		fieldIndex int
		values     []string
		removed    []store.Assignment
	}{
		{"by user", 0, []string{"carol"}, []store.Assignment{carolBeta, carolStaff}},
		{"by role", 1, []string{"course_creator"}, []store.Assignment{frankCreator}},
		// beta_tester alone would match the pack's "g, instructor, beta_tester, *".
		{"by role and scope", 1, []string{"beta_tester", carolBeta.Scope}, []store.Assignment{carolBeta}},
		{"by scope", 2, []string{"course:course-v1:DC+X+1"}, []store.Assignment{carolStaff, all[5]}},
		{"by user and role", 0, []string{"bob", "staff"}, []store.Assignment{bobStaff, all[5]}},
		{"by user, any role, scope", 0, []string{"bob", "", "org:Marvel"}, []store.Assignment{bobStaff}},
		{"by role and other scope", 1, []string{"staff", "course:course-v1:DC+X+1"}, []store.Assignment{carolStaff, all[5]}},
		{"exact triple", 0, []string{"frank", "course_creator", "global"}, []store.Assignment{frankCreator}},
		{"no match", 0, []string{"nobody"}, nil},
		{"values beyond the last field match nothing", 2, []string{"global", "extra"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			grant(t, st, all...)
			if err := boltadapter.New(packCSV(t), st).RemoveFilteredPolicy("g", "g", tc.fieldIndex, tc.values...); err != nil {
				t.Fatal(err)
			}
			var want [][]string
			for _, a := range all {
				if !slices.Contains(tc.removed, a) {
					want = append(want, rule(a))
				}
			}
			if got := stored(t, st); !equalRules(got, want) {
				t.Errorf("store = %v, want %v", got, want)
			}
		})
	}
}
