package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

const (
	cs101  = "course-v1:Marvel+CS101+2026"
	scope1 = "course:" + cs101
)

func editContent(user string) *engine.Request {
	return &engine.Request{
		Subject:  engine.Entity{Type: "user", ID: user},
		Action:   engine.Action{Name: "studio.edit_content"},
		Resource: engine.Entity{Type: "course", ID: cs101},
	}
}

func held(t *testing.T, st store.Store, a store.Assignment) bool {
	t.Helper()
	found := false
	err := st.ForEachAssignment(context.Background(), store.AssignmentFilter{User: a.User, Role: a.Role, Scope: a.Scope},
		func(store.Assignment) error { found = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestGrantRevoke(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	e := openEngine(t, st, "openedx")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.PutUser(ctx, store.User{ID: "inactive", IsActive: false}, ""))
	// A system grant (no caller) of the first instructor.
	created, err := e.Grant(ctx, store.Assignment{User: "ins", Role: "instructor", Scope: scope1}, "")
	if err != nil || !created {
		t.Fatalf("system grant: %v, %v", created, err)
	}
	tests := []struct {
		name    string
		a       store.Assignment
		caller  string
		revoke  bool
		wantErr error
		want    bool
	}{
		{"instructor grants staff", store.Assignment{User: "bob", Role: "staff", Scope: scope1}, "ins", false, nil, true},
		{"granting again is not new", store.Assignment{User: "bob", Role: "staff", Scope: scope1}, "ins", false, nil, false},
		{"staff may not grant instructor", store.Assignment{User: "eve", Role: "instructor", Scope: scope1}, "bob", false, engine.ErrForbidden, false},
		{"unknown role", store.Assignment{User: "eve", Role: "wizard", Scope: scope1}, "ins", false, engine.ErrInvalid, false},
		{"malformed course key", store.Assignment{User: "eve", Role: "staff", Scope: "course:CS101"}, "ins", false, engine.ErrInvalid, false},
		{"bad scope", store.Assignment{User: "eve", Role: "staff", Scope: "planet:earth"}, "", false, engine.ErrInvalid, false},
		{"inactive target after authority", store.Assignment{User: "inactive", Role: "staff", Scope: scope1}, "ins", false, engine.ErrInactiveUser, false},
		{"authority before inactive target", store.Assignment{User: "inactive", Role: "staff", Scope: scope1}, "bob", false, engine.ErrForbidden, false},
		{"org roles only by global staff", store.Assignment{User: "eve", Role: "staff", Scope: "org:Marvel"}, "ins", false, engine.ErrForbidden, false},
		{"last instructor cannot be revoked by the system", store.Assignment{User: "ins", Role: "instructor", Scope: scope1}, "", true, engine.ErrLastInstructor, false},
		{"last instructor cannot revoke themself", store.Assignment{User: "ins", Role: "instructor", Scope: scope1}, "ins", true, engine.ErrLastInstructor, false},
		{"staff revokes own role", store.Assignment{User: "bob", Role: "staff", Scope: scope1}, "bob", true, nil, true},
		{"revoking a role not held", store.Assignment{User: "bob", Role: "staff", Scope: scope1}, "ins", true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := held(t, st, tt.a)
			var got bool
			var err error
			if tt.revoke {
				got, err = e.Revoke(ctx, tt.a, tt.caller)
			} else {
				got, err = e.Grant(ctx, tt.a, tt.caller)
			}
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("changed = %v, want %v", got, tt.want)
			}
			after := held(t, st, tt.a)
			if tt.wantErr != nil && after != before {
				t.Errorf("a refused change wrote to the store")
			}
			if tt.wantErr == nil && after == tt.revoke {
				t.Errorf("store holds %v = %v after the change", tt.a, after)
			}
		})
	}
	// With a second instructor, the first may go.
	if _, err := e.Grant(ctx, store.Assignment{User: "ins2", Role: "instructor", Scope: scope1}, "ins"); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.Revoke(ctx, store.Assignment{User: "ins", Role: "instructor", Scope: scope1}, "ins2"); err != nil || !ok {
		t.Fatalf("revoke with a second instructor: %v %v", ok, err)
	}
}

// TestDecisionsFollowWrites checks that a grant or revoke is answered by
// the very next decision: nothing is served from a stale state.
func TestDecisionsFollowWrites(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, openStore(t), "openedx")
	a := store.Assignment{User: "amy", Role: "staff", Scope: scope1}
	for i := range 20 {
		if d := e.Decide(ctx, editContent("amy")); d.Allow {
			t.Fatalf("round %d: allowed before the grant (%s)", i, d.Reason)
		}
		if _, err := e.Grant(ctx, a, ""); err != nil {
			t.Fatal(err)
		}
		if d := e.Decide(ctx, editContent("amy")); !d.Allow {
			t.Fatalf("round %d: denied after the grant (%s)", i, d.Reason)
		}
		if _, err := e.Revoke(ctx, a, ""); err != nil {
			t.Fatal(err)
		}
	}
	// An org role counts in the org's courses, and stops counting when revoked.
	if err := e.SetOrgRoles(ctx, "amy", "staff", []string{"Marvel", "DC"}, ""); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(ctx, editContent("amy")); !d.Allow {
		t.Fatalf("org staff denied: %s", d.Reason)
	}
	if err := e.SetOrgRoles(ctx, "amy", "staff", []string{"DC"}, ""); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(ctx, editContent("amy")); d.Allow {
		t.Fatalf("allowed after the Marvel org role was removed: %s", d.Reason)
	}
	if err := e.PutUser(ctx, store.User{ID: "amy", IsActive: false}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.SetOrgRoles(ctx, "amy", "staff", []string{"DC", "Marvel"}, ""); !errors.Is(err, engine.ErrInactiveUser) {
		t.Fatalf("org roles for an inactive user: %v", err)
	}
}

func TestSetOrgRolesAndDeleteUser(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	e := openEngine(t, st, "openedx")
	if err := e.SetOrgRoles(ctx, "sam", "instructor", []string{"Marvel", "DC"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.SetOrgRoles(ctx, "sam", "instructor", []string{"DC", "Wayne"}, ""); err != nil {
		t.Fatal(err)
	}
	var scopes []string
	_ = st.ForEachAssignment(ctx, store.AssignmentFilter{User: "sam"}, func(a store.Assignment) error {
		scopes = append(scopes, a.Role+"@"+a.Scope)
		return nil
	})
	if got := strings.Join(scopes, ","); got != "instructor@org:DC,instructor@org:Wayne" {
		t.Fatalf("org roles = %s", got)
	}
	if err := e.SetOrgRoles(ctx, "sam", "limited_staff", []string{"DC"}, ""); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("limited_staff is not an org role: %v", err)
	}
	if err := e.SetOrgRoles(ctx, "sam", "staff", []string{"DC"}, "nobody"); !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("org roles by a non-staff caller: %v", err)
	}
	// The last instructor of a course may be deleted with the user.
	if _, err := e.Grant(ctx, store.Assignment{User: "sam", Role: "instructor", Scope: scope1}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteUser(ctx, "sam", "admin-cli"); err != nil {
		t.Fatal(err)
	}
	if held(t, st, store.Assignment{User: "sam", Role: "instructor", Scope: scope1}) {
		t.Fatal("deleted user still holds a role in the store")
	}
	if d := e.Decide(ctx, editContent("sam")); d.Allow {
		t.Fatal("deleted user still allowed")
	}
	if err := e.DeleteUser(ctx, "sam", ""); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("deleting again: %v", err)
	}
	entries, err := st.ListAudit(ctx, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Action != "user.delete" || last.Target != "sam" || last.Caller != "admin-cli" {
		t.Fatalf("last audit entry = %+v", last)
	}
}

// TestReopen checks that decisions survive closing and reopening the store.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "provost.db")
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, st, "openedx")
	if _, err := e.Grant(ctx, store.Assignment{User: "kim", Role: "limited_staff", Scope: scope1}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.PutResource(ctx, store.Resource{Type: "course", ID: cs101, Properties: map[string]any{"forum_posts_allowed": false}}, ""); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e = openEngine(t, st, "openedx")
	if d := e.Decide(ctx, editContent("kim")); !d.Allow {
		t.Fatalf("grant lost across reopen: %s", d.Reason)
	}
	if got := e.KnownResources("org"); len(got) != 1 || got[0] != "Marvel" {
		t.Fatalf("known orgs = %v", got)
	}
}

// TestMalformedRequests checks that malformed input is a deny with a reason.
func TestMalformedRequests(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, openStore(t), "openedx")
	if err := e.SetOrgRoles(ctx, "boss", "instructor", []string{"Marvel"}, ""); err != nil {
		t.Fatal(err)
	}
	ok := editContent("boss")
	if d := e.Decide(ctx, ok); !d.Allow {
		t.Fatalf("control request denied: %s", d.Reason)
	}
	tests := []struct {
		name   string
		mutate func(r *engine.Request)
		reason string
	}{
		{"empty subject id", func(r *engine.Request) { r.Subject.ID = "" }, "subject.id"},
		{"empty action", func(r *engine.Request) { r.Action.Name = "" }, "action.name"},
		{"empty resource id", func(r *engine.Request) { r.Resource.ID = "" }, "resource.id"},
		{"is_active not a boolean", func(r *engine.Request) { r.Subject.Properties = map[string]any{"is_active": "yes"} }, "is_active"},
		{"is_staff not a boolean", func(r *engine.Request) { r.Subject.Properties = map[string]any{"is_staff": 1} }, "is_staff"},
		{"invalid UTF-8", func(r *engine.Request) { r.Resource.ID = "course-v1:Marvel+\xff+1" }, "UTF-8"},
		{"huge id", func(r *engine.Request) { r.Subject.ID = strings.Repeat("x", 5000) }, "longer"},
		{"not a user", func(r *engine.Request) { r.Subject.Type = "robot" }, "not user"},
		{"inactive by request", func(r *engine.Request) { r.Subject.Properties = map[string]any{"is_active": false} }, "inactive"},
		{"unknown action", func(r *engine.Request) { r.Action.Name = "studio.fly" }, "unknown action"},
		{"malformed key", func(r *engine.Request) { r.Resource.ID = "Marvel/CS101/2026" }, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := *editContent("boss")
			tt.mutate(&r)
			d := e.Decide(ctx, &r)
			if d.Allow || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("decision %v, reason %q; want a deny mentioning %q", d.Allow, d.Reason, tt.reason)
			}
		})
	}
}

// TestConcurrentDecisionsAndWrites runs decisions while grants and revokes
// commit (meaningful under -race).
func TestConcurrentDecisionsAndWrites(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, openStore(t), "openedx")
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				a := store.Assignment{User: fmt.Sprintf("w%d-%d", w, i), Role: "staff", Scope: scope1}
				if _, err := e.Grant(ctx, a, ""); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := e.Revoke(ctx, a, ""); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if d := e.Decide(ctx, editContent(fmt.Sprintf("w%d-%d", r, i%25))); d.Error != "" {
					t.Error(d.Error)
					return
				}
			}
		}()
	}
	wg.Wait()
	for w := range 2 {
		for i := range 25 {
			want := i%2 == 1
			if got := e.Decide(ctx, editContent(fmt.Sprintf("w%d-%d", w, i))).Allow; got != want {
				t.Errorf("w%d-%d: allow = %v, want %v", w, i, got, want)
			}
		}
	}
}
