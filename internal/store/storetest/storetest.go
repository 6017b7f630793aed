// Package storetest is the shared test suite every store.Store backend must
// pass. A backend's tests call Run with a function that opens a fresh,
// empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/store"
)

// Run runs the shared suite. open must return a new, empty store each time
// it is called; Run closes every store it opens (Close must be idempotent,
// so open may also register its own cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Users", testUsers},
		{"UserNotFound", testUserNotFound},
		{"Assignments", testAssignments},
		{"AssignmentFilters", testAssignmentFilters},
		{"DeleteUsersCascades", testDeleteUsersCascades},
		{"Resources", testResources},
		{"CreatorStates", testCreatorStates},
		{"Audit", testAudit},
		{"AuditDefaultLimit", testAuditDefaultLimit},
		{"Atomicity", testAtomicity},
		{"EmptyChange", testEmptyChange},
		{"CanceledContext", testCanceledContext},
		{"Stats", testStats},
		{"ForEachStops", testForEachStops},
		{"Model", testModel},
		{"Concurrent", testConcurrent},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

var ctx = context.Background()

func apply(t *testing.T, s store.Store, c store.Change) {
	t.Helper()
	if err := s.Apply(ctx, c); err != nil {
		t.Fatalf("Apply(%+v): %v", c, err)
	}
}

func allUsers(t *testing.T, s store.Store) []store.User {
	t.Helper()
	var out []store.User
	if err := s.ForEachUser(ctx, func(u store.User) error { out = append(out, u); return nil }); err != nil {
		t.Fatalf("ForEachUser: %v", err)
	}
	return out
}

func assignments(t *testing.T, s store.Store, f store.AssignmentFilter) []store.Assignment {
	t.Helper()
	var out []store.Assignment
	if err := s.ForEachAssignment(ctx, f, func(a store.Assignment) error { out = append(out, a); return nil }); err != nil {
		t.Fatalf("ForEachAssignment(%+v): %v", f, err)
	}
	return out
}

func allResources(t *testing.T, s store.Store) []store.Resource {
	t.Helper()
	var out []store.Resource
	if err := s.ForEachResource(ctx, func(r store.Resource) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("ForEachResource: %v", err)
	}
	return out
}

func stats(t *testing.T, s store.Store) store.Stats {
	t.Helper()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.FileBytes < 0 {
		t.Errorf("Stats.FileBytes = %d, want >= 0", st.FileBytes)
	}
	st.FileBytes = 0
	return st
}

// sortAssignments orders as ForEachAssignment promises: (user, scope, role).
func sortAssignments(as []store.Assignment) []store.Assignment {
	out := slices.Clone(as)
	slices.SortFunc(out, func(a, b store.Assignment) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(a.Role, b.Role)
	})
	return slices.Compact(out)
}

// normUser makes nil and empty attribute maps compare equal.
func normUser(u store.User) store.User {
	if len(u.Attributes) == 0 {
		u.Attributes = nil
	}
	return u
}

func normResource(r store.Resource) store.Resource {
	if len(r.Properties) == 0 {
		r.Properties = nil
	}
	return r
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	users := []store.User{
		{ID: "42", Email: "ada@example.com", Username: "ada", IsActive: true, IsStaff: true, IsSuperuser: true, Language: "en",
			Attributes: map[string]any{"can_upload": true, "quota": 3.5, "tags": []any{"a", "b"}, "nested": map[string]any{"x": "y"}}},
		{ID: "7", IsActive: false},
		{ID: "user:with+odd@chars/ü", Username: "odd", IsActive: true},
		{ID: "4", IsActive: true, Attributes: map[string]any{}},
	}
	apply(t, s, store.Change{PutUsers: users})
	for _, want := range users {
		got, err := s.GetUser(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetUser(%q): %v", want.ID, err)
		}
		if !reflect.DeepEqual(normUser(got), normUser(want)) {
			t.Errorf("GetUser(%q) = %+v, want %+v", want.ID, got, want)
		}
	}

	var ids []string
	for _, u := range allUsers(t, s) {
		ids = append(ids, u.ID)
	}
	if want := []string{"4", "42", "7", "user:with+odd@chars/ü"}; !slices.Equal(ids, want) {
		t.Errorf("ForEachUser ids = %q, want %q", ids, want)
	}

	// Overwrite replaces the whole record.
	apply(t, s, store.Change{PutUsers: []store.User{{ID: "42", Email: "new@example.com"}}})
	got, err := s.GetUser(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.User{ID: "42", Email: "new@example.com"}); !reflect.DeepEqual(normUser(got), want) {
		t.Errorf("after overwrite GetUser = %+v, want %+v", got, want)
	}
	if st := stats(t, s); st.Users != 4 {
		t.Errorf("Stats.Users = %d after overwrite, want 4", st.Users)
	}

	apply(t, s, store.Change{DeleteUsers: []string{"42", "never-existed"}})
	_, err = s.GetUser(ctx, "42")
	wantNotFound(t, "GetUser after delete", err)
	if st := stats(t, s); st.Users != 3 {
		t.Errorf("Stats.Users = %d after delete, want 3", st.Users)
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	for _, id := range []string{"missing", "", "a\x00b"} {
		_, err := s.GetUser(ctx, id)
		wantNotFound(t, fmt.Sprintf("GetUser(%q)", id), err)
	}
	_, err := s.GetResource(ctx, "course", "missing")
	wantNotFound(t, "GetResource", err)
	_, err = s.GetCreatorState(ctx, "missing")
	wantNotFound(t, "GetCreatorState", err)
}

func testAssignments(t *testing.T, s store.Store) {
	a1 := store.Assignment{User: "u1", Role: "instructor", Scope: "course-v1:Org+C+1"}
	a2 := store.Assignment{User: "u1", Role: "staff", Scope: "course-v1:Org+C+1"}
	a3 := store.Assignment{User: "u2", Role: "instructor", Scope: "org:Org"}

	steps := []struct {
		name   string
		change store.Change
		want   []store.Assignment
	}{
		{"grant", store.Change{Grant: []store.Assignment{a1, a3}}, []store.Assignment{a1, a3}},
		{"idempotent grant", store.Change{Grant: []store.Assignment{a1, a1}}, []store.Assignment{a1, a3}},
		{"grant another role", store.Change{Grant: []store.Assignment{a2}}, []store.Assignment{a1, a2, a3}},
		{"revoke", store.Change{Revoke: []store.Assignment{a1}}, []store.Assignment{a2, a3}},
		{"revoke not held", store.Change{Revoke: []store.Assignment{a1, {User: "nobody", Role: "x", Scope: "global"}}}, []store.Assignment{a2, a3}},
		{"revoke then grant in one change", store.Change{Revoke: []store.Assignment{a3}, Grant: []store.Assignment{a3}}, []store.Assignment{a2, a3}},
		{"revoke and grant different", store.Change{Revoke: []store.Assignment{a2}, Grant: []store.Assignment{a1}}, []store.Assignment{a1, a3}},
	}
	for _, st := range steps {
		apply(t, s, st.change)
		got := assignments(t, s, store.AssignmentFilter{})
		if want := sortAssignments(st.want); !slices.Equal(got, want) {
			t.Errorf("%s: assignments = %v, want %v", st.name, got, want)
		}
		if n := stats(t, s).Assignments; n != len(st.want) {
			t.Errorf("%s: Stats.Assignments = %d, want %d", st.name, n, len(st.want))
		}
	}
}

// filterFixture has ids that are prefixes of one another, so a backend
// that matches prefixes instead of whole ids fails.
var filterFixture = []store.Assignment{
	{User: "u1", Role: "instructor", Scope: "course-v1:A+B+C"},
	{User: "u1", Role: "staff", Scope: "course-v1:A+B+C"},
	{User: "u1", Role: "staff", Scope: "course-v1:A+B+C2"},
	{User: "u1", Role: "org_admin", Scope: "org:A"},
	{User: "u10", Role: "staff", Scope: "course-v1:A+B+C"},
	{User: "u10", Role: "course_creator", Scope: "global"},
	{User: "u2", Role: "instructor", Scope: "org:AB"},
	{User: "u2", Role: "staff", Scope: "org:A"},
	{User: "u:3", Role: "staff", Scope: "org:A"},
	{User: "u", Role: "staff", Scope: "org"},
}

func testAssignmentFilters(t *testing.T, s store.Store) {
	apply(t, s, store.Change{Grant: filterFixture})
	filters := []store.AssignmentFilter{
		{},
		{User: "u1"},
		{User: "u10"},
		{User: "u"},
		{Role: "staff"},
		{Role: "instructor"},
		{Scope: "org:A"},
		{Scope: "course-v1:A+B+C"},
		{Scope: "org"},
		{User: "u1", Role: "staff"},
		{User: "u1", Scope: "course-v1:A+B+C"},
		{Role: "staff", Scope: "org:A"},
		{User: "u2", Role: "staff", Scope: "org:A"},
		{User: "u2", Role: "staff", Scope: "org:AB"},
		{User: "nobody"},
		{Role: "nothing"},
		{Scope: "org:Z"},
		{User: "u1\x00course-v1:A+B+C"},
		{Scope: "org:A\x00u2"},
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%q/%q/%q", f.User, f.Role, f.Scope), func(t *testing.T) {
			var want []store.Assignment
			for _, a := range filterFixture {
				if f.Match(a) {
					want = append(want, a)
				}
			}
			want = sortAssignments(want)
			if got := assignments(t, s, f); !slices.Equal(got, want) {
				t.Errorf("ForEachAssignment(%+v)\n got %v\nwant %v", f, got, want)
			}
		})
	}
}

func testDeleteUsersCascades(t *testing.T, s store.Store) {
	apply(t, s, store.Change{
		PutUsers: []store.User{{ID: "gone", IsActive: true}, {ID: "gone2", IsActive: true}, {ID: "kept", IsActive: true}},
		Grant: []store.Assignment{
			{User: "gone", Role: "instructor", Scope: "course-v1:A+B+C"},
			{User: "gone", Role: "course_creator", Scope: "global"},
			{User: "gone2", Role: "staff", Scope: "org:A"},
			{User: "kept", Role: "instructor", Scope: "course-v1:A+B+C"},
			{User: "gonex", Role: "staff", Scope: "course-v1:A+B+C"}, // an id sharing the prefix
			{User: "roles-only", Role: "staff", Scope: "org:A"},      // never PUT
		},
		CreatorStates: []store.CreatorState{{User: "gone", State: "denied"}, {User: "kept", State: "pending"}, {User: "roles-only", State: "pending"}},
	})
	apply(t, s, store.Change{DeleteUsers: []string{"gone", "roles-only"}})

	_, err := s.GetUser(ctx, "gone")
	wantNotFound(t, "GetUser(gone)", err)
	_, err = s.GetCreatorState(ctx, "gone")
	wantNotFound(t, "GetCreatorState(gone)", err)
	_, err = s.GetCreatorState(ctx, "roles-only")
	wantNotFound(t, "GetCreatorState(roles-only)", err)
	for _, f := range []store.AssignmentFilter{{User: "gone"}, {User: "roles-only"}, {Scope: "global"}, {Role: "course_creator"}} {
		if got := assignments(t, s, f); len(got) != 0 {
			t.Errorf("after delete ForEachAssignment(%+v) = %v, want none", f, got)
		}
	}
	want := sortAssignments([]store.Assignment{
		{User: "gone2", Role: "staff", Scope: "org:A"},
		{User: "gonex", Role: "staff", Scope: "course-v1:A+B+C"},
		{User: "kept", Role: "instructor", Scope: "course-v1:A+B+C"},
	})
	if got := assignments(t, s, store.AssignmentFilter{}); !slices.Equal(got, want) {
		t.Errorf("remaining assignments = %v, want %v", got, want)
	}
	wantScope := []store.Assignment{want[1], want[2]}
	if got := assignments(t, s, store.AssignmentFilter{Scope: "course-v1:A+B+C"}); !slices.Equal(got, wantScope) {
		t.Errorf("scope filter after delete = %v, want %v", got, wantScope)
	}
	if cs, err := s.GetCreatorState(ctx, "kept"); err != nil || cs.State != "pending" {
		t.Errorf("GetCreatorState(kept) = %+v, %v; want pending", cs, err)
	}
	if st := stats(t, s); st.Users != 2 || st.Assignments != 3 {
		t.Errorf("Stats = %+v, want 2 users, 3 assignments", st)
	}

	// Deletions run before puts: delete and re-create in one Change.
	apply(t, s, store.Change{
		DeleteUsers:   []string{"kept"},
		PutUsers:      []store.User{{ID: "kept", Email: "again@example.com"}},
		Grant:         []store.Assignment{{User: "kept", Role: "staff", Scope: "org:B"}},
		CreatorStates: []store.CreatorState{{User: "kept", State: "denied"}},
	})
	if u, err := s.GetUser(ctx, "kept"); err != nil || u.Email != "again@example.com" {
		t.Errorf("GetUser(kept) = %+v, %v", u, err)
	}
	if got, want := assignments(t, s, store.AssignmentFilter{User: "kept"}), []store.Assignment{{User: "kept", Role: "staff", Scope: "org:B"}}; !slices.Equal(got, want) {
		t.Errorf("kept's assignments = %v, want %v", got, want)
	}
	if cs, err := s.GetCreatorState(ctx, "kept"); err != nil || cs.State != "denied" {
		t.Errorf("GetCreatorState(kept) = %+v, %v; want denied", cs, err)
	}
}

func testResources(t *testing.T, s store.Store) {
	res := []store.Resource{
		{Type: "course", ID: "course-v1:Marvel+CS101+2026", Properties: map[string]any{"org": "Marvel", "self_paced": true, "n": 2.0}},
		{Type: "course", ID: "ccx-v1:Marvel+CS101+2026+ccx@3", Properties: map[string]any{"parent": "course-v1:Marvel+CS101+2026"}},
		{Type: "library", ID: "library-v1:Marvel+LIB", Properties: map[string]any{"tags": []any{"x"}}},
		{Type: "a", ID: "b:c", Properties: map[string]any{"which": "a / b:c"}},
		{Type: "a:b", ID: "c", Properties: map[string]any{"which": "a:b / c"}},
		{Type: "course", ID: "with space/slash?#ü", Properties: map[string]any{}},
	}
	apply(t, s, store.Change{PutResources: res})
	for _, want := range res {
		got, err := s.GetResource(ctx, want.Type, want.ID)
		if err != nil {
			t.Fatalf("GetResource(%q, %q): %v", want.Type, want.ID, err)
		}
		if !reflect.DeepEqual(normResource(got), normResource(want)) {
			t.Errorf("GetResource(%q, %q) = %+v, want %+v", want.Type, want.ID, got, want)
		}
	}
	_, err := s.GetResource(ctx, "library", "course-v1:Marvel+CS101+2026")
	wantNotFound(t, "GetResource with the wrong type", err)
	_, err = s.GetResource(ctx, "course", "course-v1:Marvel+CS101")
	wantNotFound(t, "GetResource with an id prefix", err)

	var got []string
	for _, r := range allResources(t, s) {
		got = append(got, r.Type+" "+r.ID)
	}
	want := []string{"a b:c", "a:b c", "course ccx-v1:Marvel+CS101+2026+ccx@3", "course course-v1:Marvel+CS101+2026",
		"course with space/slash?#ü", "library library-v1:Marvel+LIB"}
	if !slices.Equal(got, want) {
		t.Errorf("ForEachResource order = %q, want %q", got, want)
	}

	apply(t, s, store.Change{PutResources: []store.Resource{{Type: "a", ID: "b:c", Properties: map[string]any{"which": "new"}}}})
	if r, err := s.GetResource(ctx, "a", "b:c"); err != nil || r.Properties["which"] != "new" {
		t.Errorf("after overwrite GetResource = %+v, %v", r, err)
	}
	apply(t, s, store.Change{DeleteResources: []store.ResourceKey{{Type: "a", ID: "b:c"}, {Type: "none", ID: "none"}}})
	_, err = s.GetResource(ctx, "a", "b:c")
	wantNotFound(t, "GetResource after delete", err)
	if r, err := s.GetResource(ctx, "a:b", "c"); err != nil || r.Properties["which"] != "a:b / c" {
		t.Errorf("neighbour resource = %+v, %v", r, err)
	}
	if n := stats(t, s).Resources; n != len(res)-1 {
		t.Errorf("Stats.Resources = %d, want %d", n, len(res)-1)
	}
}

func testCreatorStates(t *testing.T, s store.Store) {
	steps := []struct {
		name  string
		put   []store.CreatorState
		user  string
		state string // "" means not found
	}{
		{"pending", []store.CreatorState{{User: "u1", State: "pending"}}, "u1", "pending"},
		{"denied overwrites", []store.CreatorState{{User: "u1", State: "denied"}}, "u1", "denied"},
		{"unrequested", []store.CreatorState{{User: "u2", State: "unrequested"}}, "u2", "unrequested"},
		{"empty deletes", []store.CreatorState{{User: "u1", State: ""}}, "u1", ""},
		{"delete missing", []store.CreatorState{{User: "u3", State: ""}}, "u3", ""},
		{"last in slice wins", []store.CreatorState{{User: "u4", State: "pending"}, {User: "u4", State: "denied"}}, "u4", "denied"},
		{"delete after put in slice", []store.CreatorState{{User: "u5", State: "pending"}, {User: "u5", State: ""}}, "u5", ""},
		{"other user untouched", nil, "u2", "unrequested"},
	}
	for _, st := range steps {
		if len(st.put) > 0 {
			apply(t, s, store.Change{CreatorStates: st.put})
		}
		got, err := s.GetCreatorState(ctx, st.user)
		if st.state == "" {
			wantNotFound(t, st.name, err)
			continue
		}
		if err != nil || got != (store.CreatorState{User: st.user, State: st.state}) {
			t.Errorf("%s: GetCreatorState(%q) = %+v, %v; want %s", st.name, st.user, got, err, st.state)
		}
	}
}

func testAudit(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	entry := func(sec int, target string) store.AuditEntry {
		return store.AuditEntry{Time: at(sec), Caller: "admin", Action: "role.grant", Target: target,
			Details: map[string]any{"role": "staff", "n": float64(sec)}}
	}
	// Applied out of time order, and two entries share a time.
	apply(t, s, store.Change{Audit: []store.AuditEntry{entry(1, "a")}})
	apply(t, s, store.Change{Audit: []store.AuditEntry{entry(3, "c"), entry(2, "b")}})
	apply(t, s, store.Change{Audit: []store.AuditEntry{entry(4, "d1"), entry(4, "d2")}})
	paris := time.FixedZone("CET", 3600)
	apply(t, s, store.Change{Audit: []store.AuditEntry{{Time: at(5).In(paris), Caller: "", Action: "user.delete", Target: "e"}}})

	targets := func(es []store.AuditEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Target)
		}
		return out
	}
	cases := []struct {
		since time.Time
		limit int
		want  []string
	}{
		{time.Time{}, 10, []string{"a", "b", "c", "d1", "d2", "e"}},
		{time.Time{}, 2, []string{"a", "b"}},
		{at(1), 10, []string{"b", "c", "d1", "d2", "e"}},
		{at(1).Add(-time.Microsecond), 1, []string{"a"}},
		{at(3), 2, []string{"d1", "d2"}},
		{at(4), 10, []string{"e"}},
		{at(4).In(paris), 10, []string{"e"}},
		{at(5), 10, nil},
		{at(100), 10, nil},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 3, []string{"a", "b", "c"}},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 3, nil},
	}
	for _, c := range cases {
		got, err := s.ListAudit(ctx, c.since, c.limit)
		if err != nil {
			t.Fatalf("ListAudit(%v, %d): %v", c.since, c.limit, err)
		}
		if !slices.Equal(targets(got), c.want) {
			t.Errorf("ListAudit(%v, %d) = %q, want %q", c.since, c.limit, targets(got), c.want)
		}
	}

	all, err := s.ListAudit(ctx, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("ListAudit = %d entries, want 6", len(all))
	}
	seqOf := map[string]uint64{}
	for _, e := range all {
		seqOf[e.Target] = e.Seq
		if e.Target != "e" && (e.Caller != "admin" || e.Action != "role.grant" || e.Details["role"] != "staff") {
			t.Errorf("entry %q = %+v, fields not kept", e.Target, e)
		}
	}
	if !all[0].Time.Equal(at(1)) || !all[5].Time.Equal(at(5)) {
		t.Errorf("times = %v .. %v, want %v .. %v", all[0].Time, all[5].Time, at(1), at(5))
	}
	if all[0].Details["n"] != 1.0 {
		t.Errorf("details = %v, want n=1", all[0].Details)
	}
	// Sequence numbers follow Apply order, not time order.
	if !(seqOf["a"] < seqOf["c"] && seqOf["c"] < seqOf["b"] && seqOf["b"] < seqOf["d1"] && seqOf["d1"] < seqOf["d2"] && seqOf["d2"] < seqOf["e"]) {
		t.Errorf("sequence numbers %v do not follow apply order a, c, b, d1, d2, e", seqOf)
	}

	// A zero Time is filled with the commit time.
	before := time.Now().Add(-time.Millisecond)
	apply(t, s, store.Change{Audit: []store.AuditEntry{{Caller: "c", Action: "now", Target: "f"}}})
	after := time.Now().Add(time.Millisecond)
	got, err := s.ListAudit(ctx, at(5), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit after zero-time entry = %v, %v", got, err)
	}
	if tm := got[0].Time; tm.Before(before) || tm.After(after) {
		t.Errorf("filled time %v not within [%v, %v]", tm, before, after)
	}
	if n := stats(t, s).AuditLength; n != 7 {
		t.Errorf("Stats.AuditLength = %d, want 7", n)
	}
}

func testAuditDefaultLimit(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var es []store.AuditEntry
	for i := range 120 {
		es = append(es, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Millisecond), Action: "x", Target: fmt.Sprint(i)})
	}
	apply(t, s, store.Change{Audit: es})
	for _, limit := range []int{0, -1} {
		got, err := s.ListAudit(ctx, time.Time{}, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 100 || got[0].Target != "0" || got[99].Target != "99" {
			t.Errorf("ListAudit(limit %d) = %d entries (%v..), want the oldest 100", limit, len(got), got[0].Target)
		}
	}
	got, err := s.ListAudit(ctx, t0.Add(99*time.Millisecond), 0)
	if err != nil || len(got) != 20 || got[0].Target != "100" {
		t.Errorf("ListAudit(since 99ms) = %d entries, %v; want 20 from 100", len(got), err)
	}
}

// snapshot is everything observable about a store, for before/after checks.
type snapshot struct {
	Users       []store.User
	Assignments []store.Assignment
	Resources   []store.Resource
	Creators    map[string]string
	Audit       []string
	Stats       store.Stats
}

func takeSnapshot(t *testing.T, s store.Store, creatorUsers []string) snapshot {
	t.Helper()
	snap := snapshot{
		Users:       allUsers(t, s),
		Assignments: assignments(t, s, store.AssignmentFilter{}),
		Resources:   allResources(t, s),
		Creators:    map[string]string{},
		Stats:       stats(t, s),
	}
	for _, u := range creatorUsers {
		if cs, err := s.GetCreatorState(ctx, u); err == nil {
			snap.Creators[u] = cs.State
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCreatorState(%q): %v", u, err)
		}
	}
	es, err := s.ListAudit(ctx, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		snap.Audit = append(snap.Audit, e.Target)
	}
	return snap
}

func testAtomicity(t *testing.T, s store.Store) {
	apply(t, s, store.Change{
		PutUsers:      []store.User{{ID: "base", IsActive: true}},
		Grant:         []store.Assignment{{User: "base", Role: "staff", Scope: "org:A"}},
		PutResources:  []store.Resource{{Type: "course", ID: "course-v1:A+B+C", Properties: map[string]any{"v": "1"}}},
		CreatorStates: []store.CreatorState{{User: "base", State: "pending"}},
		Audit:         []store.AuditEntry{{Action: "setup", Target: "base"}},
	})
	creatorUsers := []string{"base", "atom"}
	before := takeSnapshot(t, s, creatorUsers)

	// valid is a Change whose every part is fine; each case spoils one part.
	valid := func() store.Change {
		return store.Change{
			PutUsers:        []store.User{{ID: "atom", IsActive: true}},
			DeleteUsers:     []string{"base"},
			Revoke:          []store.Assignment{{User: "base", Role: "staff", Scope: "org:A"}},
			Grant:           []store.Assignment{{User: "atom", Role: "staff", Scope: "org:A"}},
			PutResources:    []store.Resource{{Type: "course", ID: "course-v1:X+Y+Z", Properties: map[string]any{}}},
			DeleteResources: []store.ResourceKey{{Type: "course", ID: "course-v1:A+B+C"}},
			CreatorStates:   []store.CreatorState{{User: "atom", State: "denied"}},
			Audit:           []store.AuditEntry{{Action: "atom", Target: "atom"}},
		}
	}
	cases := []struct {
		name  string
		spoil func(c *store.Change)
	}{
		{"empty user id", func(c *store.Change) { c.PutUsers = append(c.PutUsers, store.User{ID: ""}) }},
		{"NUL in user id", func(c *store.Change) { c.PutUsers = append(c.PutUsers, store.User{ID: "a\x00b"}) }},
		{"bad UTF-8 user id", func(c *store.Change) { c.PutUsers = append(c.PutUsers, store.User{ID: "a\xffb"}) }},
		{"unencodable attribute", func(c *store.Change) {
			c.PutUsers = append(c.PutUsers, store.User{ID: "inf", Attributes: map[string]any{"x": math.Inf(1)}})
		}},
		{"empty delete id", func(c *store.Change) { c.DeleteUsers = append(c.DeleteUsers, "") }},
		{"empty grant role", func(c *store.Change) {
			c.Grant = append(c.Grant, store.Assignment{User: "atom", Role: "", Scope: "org:A"})
		}},
		{"empty grant user", func(c *store.Change) {
			c.Grant = append(c.Grant, store.Assignment{User: "", Role: "staff", Scope: "org:A"})
		}},
		{"NUL in grant scope", func(c *store.Change) {
			c.Grant = append(c.Grant, store.Assignment{User: "atom", Role: "staff", Scope: "org:A\x00x"})
		}},
		{"empty revoke scope", func(c *store.Change) {
			c.Revoke = append(c.Revoke, store.Assignment{User: "base", Role: "staff", Scope: ""})
		}},
		{"empty resource type", func(c *store.Change) {
			c.PutResources = append(c.PutResources, store.Resource{Type: "", ID: "x"})
		}},
		{"NUL in resource id", func(c *store.Change) {
			c.PutResources = append(c.PutResources, store.Resource{Type: "course", ID: "x\x00y"})
		}},
		{"unencodable property", func(c *store.Change) {
			c.PutResources = append(c.PutResources, store.Resource{Type: "course", ID: "nan", Properties: map[string]any{"x": math.NaN()}})
		}},
		{"empty delete resource id", func(c *store.Change) {
			c.DeleteResources = append(c.DeleteResources, store.ResourceKey{Type: "course", ID: ""})
		}},
		{"creator state granted", func(c *store.Change) {
			c.CreatorStates = append(c.CreatorStates, store.CreatorState{User: "atom", State: "granted"})
		}},
		{"creator state unknown", func(c *store.Change) {
			c.CreatorStates = append(c.CreatorStates, store.CreatorState{User: "atom", State: "maybe"})
		}},
		{"creator state empty user", func(c *store.Change) {
			c.CreatorStates = append(c.CreatorStates, store.CreatorState{User: "", State: "pending"})
		}},
		{"unencodable audit details", func(c *store.Change) {
			c.Audit = append(c.Audit, store.AuditEntry{Action: "x", Details: map[string]any{"ch": make(chan int)}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.spoil(&c)
			if err := s.Apply(ctx, c); err == nil {
				t.Fatalf("Apply accepted a Change with %s", tc.name)
			}
			after := takeSnapshot(t, s, creatorUsers)
			if !reflect.DeepEqual(after, before) {
				t.Errorf("a refused Change wrote something:\nbefore %+v\nafter  %+v", before, after)
			}
			if _, err := s.GetUser(ctx, "atom"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("user from the refused Change exists (err %v)", err)
			}
		})
	}
	// The unspoiled Change must be accepted, or the cases prove nothing.
	t.Run("valid control", func(t *testing.T) {
		apply(t, s, valid())
		after := takeSnapshot(t, s, creatorUsers)
		if reflect.DeepEqual(after, before) {
			t.Fatal("the valid control Change wrote nothing")
		}
		if _, err := s.GetUser(ctx, "atom"); err != nil {
			t.Errorf("GetUser(atom) after valid Change: %v", err)
		}
		if _, err := s.GetUser(ctx, "base"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser(base) after valid Change: %v, want ErrNotFound", err)
		}
	})
}

func testEmptyChange(t *testing.T, s store.Store) {
	before := stats(t, s)
	if err := s.Apply(ctx, store.Change{}); err != nil {
		t.Fatalf("Apply(empty): %v", err)
	}
	if after := stats(t, s); after != before {
		t.Errorf("Stats changed by an empty Change: %+v → %+v", before, after)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := s.Apply(cctx, store.Change{PutUsers: []store.User{{ID: "u"}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with canceled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := s.GetUser(ctx, "u"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply with canceled ctx wrote the user (err %v)", err)
	}
	if _, err := s.GetUser(cctx, "u"); err == nil {
		t.Error("GetUser with canceled ctx succeeded")
	}
	if err := s.ForEachAssignment(cctx, store.AssignmentFilter{}, func(store.Assignment) error { return nil }); err == nil {
		t.Error("ForEachAssignment with canceled ctx succeeded")
	}
}

func testStats(t *testing.T, s store.Store) {
	if st := stats(t, s); st != (store.Stats{}) {
		t.Errorf("Stats of an empty store = %+v, want zero", st)
	}
	apply(t, s, store.Change{
		PutUsers:     []store.User{{ID: "a"}, {ID: "b"}, {ID: "c"}},
		Grant:        filterFixture,
		PutResources: []store.Resource{{Type: "course", ID: "1"}, {Type: "course", ID: "2"}},
		Audit:        []store.AuditEntry{{Action: "1"}, {Action: "2"}},
	})
	apply(t, s, store.Change{
		DeleteUsers:     []string{"u1", "c"}, // u1 holds 4 assignments but was never PUT
		Grant:           filterFixture[:2],   // u1 again: 2 new
		DeleteResources: []store.ResourceKey{{Type: "course", ID: "1"}, {Type: "course", ID: "1"}},
		PutResources:    []store.Resource{{Type: "course", ID: "2"}},
		Audit:           []store.AuditEntry{{Action: "3"}},
	})
	want := store.Stats{Users: 2, Assignments: len(filterFixture) - 4 + 2, Resources: 1, AuditLength: 3}
	if st := stats(t, s); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if n := len(assignments(t, s, store.AssignmentFilter{})); n != want.Assignments {
		t.Errorf("ForEachAssignment visits %d, Stats says %d", n, want.Assignments)
	}
}

var errStop = errors.New("stop")

func testForEachStops(t *testing.T, s store.Store) {
	apply(t, s, store.Change{
		PutUsers:     []store.User{{ID: "a"}, {ID: "b"}},
		Grant:        filterFixture,
		PutResources: []store.Resource{{Type: "t", ID: "1"}, {Type: "t", ID: "2"}},
	})
	calls := 0
	stop := func() error { calls++; return fmt.Errorf("wrapped: %w", errStop) }
	checks := map[string]error{
		"ForEachUser":       s.ForEachUser(ctx, func(store.User) error { return stop() }),
		"ForEachAssignment": s.ForEachAssignment(ctx, store.AssignmentFilter{}, func(store.Assignment) error { return stop() }),
		"ForEachResource":   s.ForEachResource(ctx, func(store.Resource) error { return stop() }),
		"ForEachAssignment(scope)": s.ForEachAssignment(ctx, store.AssignmentFilter{Scope: "org:A"},
			func(store.Assignment) error { return stop() }),
	}
	for name, err := range checks {
		if !errors.Is(err, errStop) {
			t.Errorf("%s returned %v, want fn's error", name, err)
		}
	}
	if calls != len(checks) {
		t.Errorf("fn called %d times, want once per ForEach (%d)", calls, len(checks))
	}
}

// model is an in-memory reference implementation of the Change semantics.
type model struct {
	users     map[string]store.User
	asg       map[store.Assignment]bool
	resources map[store.ResourceKey]store.Resource
	creators  map[string]string
	audit     int
}

func (m *model) apply(c store.Change) {
	for _, id := range c.DeleteUsers {
		delete(m.users, id)
		delete(m.creators, id)
		for a := range m.asg {
			if a.User == id {
				delete(m.asg, a)
			}
		}
	}
	for _, k := range c.DeleteResources {
		delete(m.resources, k)
	}
	for _, a := range c.Revoke {
		delete(m.asg, a)
	}
	for _, u := range c.PutUsers {
		m.users[u.ID] = u
	}
	for _, a := range c.Grant {
		m.asg[a] = true
	}
	for _, r := range c.PutResources {
		m.resources[store.ResourceKey{Type: r.Type, ID: r.ID}] = r
	}
	for _, cs := range c.CreatorStates {
		if cs.State == "" {
			delete(m.creators, cs.User)
		} else {
			m.creators[cs.User] = cs.State
		}
	}
	m.audit += len(c.Audit)
}

// testModel applies random Changes to the store and to a model and
// compares everything the store exposes.
func testModel(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	users := []string{"u", "u1", "u10", "u:1", "a+b", "ü"}
	roles := []string{"staff", "instructor", "course_creator", "org_admin"}
	scopes := []string{"global", "org", "org:A", "org:AB", "course-v1:A+B+C", "course-v1:A+B+C2"}
	types := []string{"course", "course-v1", "library"}
	ids := []string{"A+B+C", "x:y", "x", "course-v1:A+B+C"}
	states := []string{"", "unrequested", "pending", "denied"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	asg := func() store.Assignment {
		return store.Assignment{User: pick(users), Role: pick(roles), Scope: pick(scopes)}
	}
	m := &model{users: map[string]store.User{}, asg: map[store.Assignment]bool{},
		resources: map[store.ResourceKey]store.Resource{}, creators: map[string]string{}}

	for step := range 300 {
		var c store.Change
		for range rng.IntN(3) {
			c.PutUsers = append(c.PutUsers, store.User{ID: pick(users), Email: fmt.Sprint(step), IsActive: rng.IntN(2) == 0})
		}
		if rng.IntN(6) == 0 {
			c.DeleteUsers = append(c.DeleteUsers, pick(users))
		}
		for range rng.IntN(3) {
			c.Revoke = append(c.Revoke, asg())
		}
		for range rng.IntN(5) {
			c.Grant = append(c.Grant, asg())
		}
		for range rng.IntN(2) {
			c.PutResources = append(c.PutResources, store.Resource{Type: pick(types), ID: pick(ids), Properties: map[string]any{"step": float64(step)}})
		}
		if rng.IntN(3) == 0 {
			c.DeleteResources = append(c.DeleteResources, store.ResourceKey{Type: pick(types), ID: pick(ids)})
		}
		for range rng.IntN(2) {
			c.CreatorStates = append(c.CreatorStates, store.CreatorState{User: pick(users), State: pick(states)})
		}
		if rng.IntN(2) == 0 {
			c.Audit = append(c.Audit, store.AuditEntry{Action: "step", Target: fmt.Sprint(step)})
		}
		apply(t, s, c)
		m.apply(c)
		if step%25 != 24 {
			continue
		}

		for range 10 {
			var f store.AssignmentFilter
			if rng.IntN(2) == 0 {
				f.User = pick(users)
			}
			if rng.IntN(2) == 0 {
				f.Role = pick(roles)
			}
			if rng.IntN(2) == 0 {
				f.Scope = pick(scopes)
			}
			var want []store.Assignment
			for a := range m.asg {
				if f.Match(a) {
					want = append(want, a)
				}
			}
			if got, want := assignments(t, s, f), sortAssignments(want); !slices.Equal(got, want) {
				t.Fatalf("step %d: ForEachAssignment(%+v)\n got %v\nwant %v", step, f, got, want)
			}
		}
		var wantUsers []store.User
		for _, u := range m.users {
			wantUsers = append(wantUsers, u)
		}
		slices.SortFunc(wantUsers, func(a, b store.User) int { return strings.Compare(a.ID, b.ID) })
		if got := allUsers(t, s); !reflect.DeepEqual(got, wantUsers) {
			t.Fatalf("step %d: users\n got %+v\nwant %+v", step, got, wantUsers)
		}
		for _, r := range allResources(t, s) {
			want, ok := m.resources[store.ResourceKey{Type: r.Type, ID: r.ID}]
			if !ok || !reflect.DeepEqual(r, want) {
				t.Fatalf("step %d: resource %+v, model has %+v (%v)", step, r, want, ok)
			}
		}
		for _, u := range users {
			cs, err := s.GetCreatorState(ctx, u)
			want, ok := m.creators[u]
			if ok != (err == nil) || (ok && cs.State != want) {
				t.Fatalf("step %d: GetCreatorState(%q) = %+v, %v; model %q, %v", step, u, cs, err, want, ok)
			}
		}
		want := store.Stats{Users: len(m.users), Assignments: len(m.asg), Resources: len(m.resources), AuditLength: m.audit}
		if st := stats(t, s); st != want {
			t.Fatalf("step %d: Stats = %+v, model %+v", step, st, want)
		}
	}
}

// testConcurrent runs writers and readers at once (meaningful under -race).
func testConcurrent(t *testing.T, s store.Store) {
	const writers, perWriter = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				a := store.Assignment{User: fmt.Sprintf("w%d-%03d", w, i), Role: "staff", Scope: "org:A"}
				c := store.Change{Grant: []store.Assignment{a}, Audit: []store.AuditEntry{{Action: "grant", Target: a.User}}}
				if err := s.Apply(ctx, c); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				n := 0
				if err := s.ForEachAssignment(ctx, store.AssignmentFilter{Scope: "org:A"}, func(store.Assignment) error { n++; return nil }); err != nil {
					errs <- err
					return
				}
				if _, err := s.Stats(ctx); err != nil {
					errs <- err
					return
				}
				if _, err := s.ListAudit(ctx, time.Time{}, 10); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := stats(t, s); st.Assignments != writers*perWriter || st.AuditLength != writers*perWriter {
		t.Errorf("Stats = %+v, want %d assignments and audit entries", st, writers*perWriter)
	}
}

func testClosed(t *testing.T, s store.Store) {
	apply(t, s, store.Change{PutUsers: []store.User{{ID: "u"}}})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GetUser(ctx, "u"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("GetUser after Close: %v, want ErrClosed", err)
	}
	if err := s.Apply(ctx, store.Change{PutUsers: []store.User{{ID: "v"}}}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if err := s.ForEachUser(ctx, func(store.User) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ForEachUser after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Stats(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
}
