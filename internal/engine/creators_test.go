package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
)

// creatorSetup returns an engine with global staff "nick", an inactive user
// "ghost", the orgs Marvel, DC and Wayne known through course roles, and the
// creator group enabled.
func creatorSetup(t *testing.T) (*engine.Engine, store.Store) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	e := openEngine(t, st, "openedx")
	for _, u := range []store.User{
		{ID: "nick", IsActive: true, IsStaff: true, Email: "nick@example.org"},
		{ID: "maria", IsActive: true, IsStaff: true},
		{ID: "retired", IsActive: false, IsStaff: true},
		{ID: "ghost", IsActive: false},
		{ID: "spiderman", IsActive: true, Email: "peter@example.org"},
	} {
		if err := e.PutUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"course-v1:Marvel+CS101+2026", "course-v1:DC+B1+2026", "course-v1:Wayne+W1+2026"} {
		if _, err := e.Grant(ctx, store.Assignment{User: "teacher", Role: "instructor", Scope: "course:" + c}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.SetSettings(ctx, map[string]any{"ENABLE_CREATOR_GROUP": true}); err != nil {
		t.Fatal(err)
	}
	return e, st
}

func canCreate(e *engine.Engine, user, org string) bool {
	return e.Decide(context.Background(), &engine.Request{
		Subject:  engine.Entity{Type: "user", ID: user},
		Action:   engine.Action{Name: "course.create"},
		Resource: engine.Entity{Type: "org", ID: org},
	}).Allow
}

// checkAgrees checks that allowed_organizations agrees with course.create
// decisions on every known org and on an org nobody has named.
func checkAgrees(t *testing.T, e *engine.Engine, user string) []string {
	t.Helper()
	rec, err := e.CourseCreator(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	anyOrg := slices.Equal(rec.AllowedOrganizations, []string{"*"})
	for _, org := range append(e.KnownResources("org"), "NeverNamed") {
		want := canCreate(e, user, org)
		got := anyOrg || slices.Contains(rec.AllowedOrganizations, org)
		if got != want {
			t.Errorf("%s: allowed_organizations %v says %v for org %s, course.create says %v", user, rec.AllowedOrganizations, got, org, want)
		}
	}
	return rec.AllowedOrganizations
}

func TestCourseCreatorStateMachine(t *testing.T) {
	ctx := context.Background()
	e, st := creatorSetup(t)
	rec := func(user string) engine.CreatorRecord {
		t.Helper()
		r, err := e.CourseCreator(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rec("spiderman"); r.State != "unrequested" || r.AllOrganizations || len(r.Organizations) != 0 || len(r.AllowedOrganizations) != 0 {
		t.Fatalf("fresh user = %+v", r)
	}
	// Request: pending, the active staff are mailed.
	since := time.Now().Add(-time.Second)
	if r, err := e.RequestCourseCreator(ctx, "spiderman", "spiderman"); err != nil || r.State != "pending" {
		t.Fatalf("request = %+v, %v", r, err)
	}
	mails := mailTargets(t, st, since, "mail.course_creator_pending")
	if !slices.Equal(mails, []string{"maria", "nick"}) {
		t.Fatalf("pending mails went to %v, want the active staff maria, nick", mails)
	}
	// Requesting again changes nothing and mails nobody.
	since = time.Now()
	if _, err := e.RequestCourseCreator(ctx, "spiderman", "spiderman"); err != nil {
		t.Fatal(err)
	}
	if got := mailTargets(t, st, since, ""); len(got) != 0 {
		t.Fatalf("a second request mailed %v", got)
	}
	// Granted in Marvel: Spiderman may create in Marvel, not DC.
	since = time.Now()
	r, err := e.SetCourseCreator(ctx, "spiderman", "granted", false, []string{"Marvel"}, "nick")
	if err != nil || r.State != "granted" || r.AllOrganizations || !slices.Equal(r.Organizations, []string{"Marvel"}) {
		t.Fatalf("grant in Marvel = %+v, %v", r, err)
	}
	if !slices.Equal(r.AllowedOrganizations, []string{"Marvel"}) || !canCreate(e, "spiderman", "Marvel") || canCreate(e, "spiderman", "DC") {
		t.Fatalf("allowed = %v; Marvel %v, DC %v", r.AllowedOrganizations, canCreate(e, "spiderman", "Marvel"), canCreate(e, "spiderman", "DC"))
	}
	if got := mailTargets(t, st, since, "mail.course_creator_granted"); !slices.Equal(got, []string{"spiderman"}) {
		t.Fatalf("granted mails = %v", got)
	}
	if _, err := st.GetCreatorState(ctx, "spiderman"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("granted left a stored state: %v", err)
	}
	// A request while granted changes nothing.
	if r, err := e.RequestCourseCreator(ctx, "spiderman", "spiderman"); err != nil || r.State != "granted" {
		t.Fatalf("request while granted = %+v, %v", r, err)
	}
	// Exactly these orgs: DC and Wayne replace Marvel; no second mail.
	since = time.Now()
	r, err = e.SetCourseCreator(ctx, "spiderman", "granted", false, []string{"Wayne", "DC", "DC"}, "")
	if err != nil || !slices.Equal(r.Organizations, []string{"DC", "Wayne"}) || canCreate(e, "spiderman", "Marvel") {
		t.Fatalf("regrant = %+v, %v", r, err)
	}
	if got := mailTargets(t, st, since, "mail."); len(got) != 0 {
		t.Fatalf("granted to granted mailed %v", got)
	}
	checkAgrees(t, e, "spiderman")
	// All orgs: the global role replaces the org roles.
	r, err = e.SetCourseCreator(ctx, "spiderman", "granted", true, nil, "")
	if err != nil || !r.AllOrganizations || len(r.Organizations) != 0 || !slices.Equal(r.AllowedOrganizations, []string{"*"}) {
		t.Fatalf("grant all = %+v, %v", r, err)
	}
	if got := roles(t, st, "spiderman"); !slices.Equal(got, []string{"course_creator@global"}) {
		t.Fatalf("roles after grant all = %v", got)
	}
	// Both shown when granted both directly.
	if _, err := e.Grant(ctx, store.Assignment{User: "spiderman", Role: "course_creator", Scope: "org:DC"}, ""); err != nil {
		t.Fatal(err)
	}
	if r := rec("spiderman"); !r.AllOrganizations || !slices.Equal(r.Organizations, []string{"DC"}) || r.State != "granted" {
		t.Fatalf("both = %+v", r)
	}
	// Denied removes every course_creator role, is stored, and mails the user.
	since = time.Now()
	r, err = e.SetCourseCreator(ctx, "spiderman", "denied", true, []string{"ignored"}, "nick")
	if err != nil || r.State != "denied" || r.AllOrganizations || len(r.Organizations) != 0 || len(r.AllowedOrganizations) != 0 {
		t.Fatalf("deny = %+v, %v", r, err)
	}
	if got := roles(t, st, "spiderman"); len(got) != 0 {
		t.Fatalf("roles after deny = %v", got)
	}
	if cs, err := st.GetCreatorState(ctx, "spiderman"); err != nil || cs.State != "denied" {
		t.Fatalf("stored state = %+v, %v", cs, err)
	}
	if got := mailTargets(t, st, since, "mail.course_creator_denied"); !slices.Equal(got, []string{"spiderman"}) {
		t.Fatalf("denied mails = %v", got)
	}
	// A denied user may request again.
	if r, err := e.RequestCourseCreator(ctx, "spiderman", ""); err != nil || r.State != "pending" {
		t.Fatalf("request after deny = %+v, %v", r, err)
	}
	// Unrequested clears the stored state.
	if r, err := e.SetCourseCreator(ctx, "spiderman", "unrequested", false, nil, ""); err != nil || r.State != "unrequested" {
		t.Fatalf("unrequested = %+v, %v", r, err)
	}
	// A role granted directly reads as granted; revoking it reads back the stored state.
	if _, err := e.SetCourseCreator(ctx, "spiderman", "pending", false, nil, ""); err != nil {
		t.Fatal(err)
	}
	a := store.Assignment{User: "spiderman", Role: "course_creator", Scope: "org:Marvel"}
	if _, err := e.Grant(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	if r := rec("spiderman"); r.State != "granted" || !slices.Equal(r.Organizations, []string{"Marvel"}) {
		t.Fatalf("direct grant = %+v", r)
	}
	if _, err := e.Revoke(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	if r := rec("spiderman"); r.State != "pending" {
		t.Fatalf("after direct revoke = %+v", r)
	}
}

func mailTargets(t *testing.T, st store.Store, since time.Time, prefix string) []string {
	t.Helper()
	entries, err := st.ListAudit(context.Background(), since, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if strings.HasPrefix(en.Action, "mail.") && strings.HasPrefix(en.Action, prefix) {
			out = append(out, en.Target)
		}
	}
	slices.Sort(out)
	return out
}

func roles(t *testing.T, st store.Store, user string) []string {
	t.Helper()
	var out []string
	err := st.ForEachAssignment(context.Background(), store.AssignmentFilter{User: user}, func(a store.Assignment) error {
		out = append(out, a.Role+"@"+a.Scope)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCourseCreatorErrors(t *testing.T) {
	ctx := context.Background()
	e, st := creatorSetup(t)
	tests := []struct {
		name   string
		user   string
		state  string
		all    bool
		orgs   []string
		caller string
		want   error
	}{
		{"granted needs an org list or all", "spiderman", "granted", false, nil, "", engine.ErrInvalid},
		{"granted takes not both", "spiderman", "granted", true, []string{"Marvel"}, "", engine.ErrInvalid},
		{"unknown state", "spiderman", "approved", false, nil, "", engine.ErrInvalid},
		{"missing state", "spiderman", "", false, nil, "", engine.ErrInvalid},
		{"bad org", "spiderman", "granted", false, []string{"Mar vel"}, "", engine.ErrInvalid},
		{"invalid before forbidden", "spiderman", "granted", false, nil, "spiderman", engine.ErrInvalid},
		{"no authority to grant", "spiderman", "granted", false, []string{"Marvel"}, "teacher", engine.ErrForbidden},
		{"no authority to deny", "spiderman", "denied", false, nil, "teacher", engine.ErrForbidden},
		{"no authority for a no-op", "spiderman", "unrequested", false, nil, "teacher", engine.ErrForbidden},
		{"a user may not grant themself", "spiderman", "granted", true, nil, "spiderman", engine.ErrForbidden},
		{"forbidden before inactive", "ghost", "granted", true, nil, "teacher", engine.ErrForbidden},
		{"inactive target", "ghost", "granted", true, nil, "nick", engine.ErrInactiveUser},
		{"inactive staff has no authority", "spiderman", "granted", true, nil, "retired", engine.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.SetCourseCreator(ctx, tt.user, tt.state, tt.all, tt.orgs, tt.caller)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := roles(t, st, tt.user); len(got) != 0 {
				t.Fatalf("a failed write left roles %v", got)
			}
			if _, err := st.GetCreatorState(ctx, tt.user); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a failed write left a state: %v", err)
			}
		})
	}
	// Requests: for oneself when active; for another only with authority.
	if _, err := e.RequestCourseCreator(ctx, "spiderman", "teacher"); !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("request for another user: %v", err)
	}
	if _, err := e.RequestCourseCreator(ctx, "ghost", "ghost"); !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("inactive self request: %v", err)
	}
	if _, err := e.RequestCourseCreator(ctx, "ghost", "nick"); !errors.Is(err, engine.ErrInactiveUser) {
		t.Fatalf("request for an inactive user: %v", err)
	}
	if r, err := e.RequestCourseCreator(ctx, "spiderman", "nick"); err != nil || r.State != "pending" {
		t.Fatalf("staff request for a user: %+v, %v", r, err)
	}
	// A course creator may drop their own role (a user may always revoke their own).
	if _, err := e.SetCourseCreator(ctx, "spiderman", "granted", false, []string{"Marvel"}, "nick"); err != nil {
		t.Fatal(err)
	}
	if r, err := e.SetCourseCreator(ctx, "spiderman", "unrequested", false, nil, "spiderman"); err != nil || r.State != "unrequested" {
		t.Fatalf("self unrequest = %+v, %v", r, err)
	}
}

// TestAllowedOrganizationsFollowSettings checks allowed_organizations
// against course.create decisions under each setting.
func TestAllowedOrganizationsFollowSettings(t *testing.T) {
	ctx := context.Background()
	e, _ := creatorSetup(t)
	if _, err := e.SetCourseCreator(ctx, "spiderman", "granted", false, []string{"Marvel"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetCourseCreator(ctx, "bruce", "granted", true, nil, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		settings map[string]any
		want     map[string][]string
	}{
		{map[string]any{"ENABLE_CREATOR_GROUP": true}, map[string][]string{
			"spiderman": {"Marvel"}, "bruce": {"*"}, "nick": {"*"}, "nobody": {}, "ghost": {}, "teacher": {}}},
		{map[string]any{}, map[string][]string{
			"spiderman": {"*"}, "bruce": {"*"}, "nick": {"*"}, "nobody": {"*"}, "ghost": {}, "teacher": {"*"}}},
		{map[string]any{"DISABLE_COURSE_CREATION": true}, map[string][]string{
			"spiderman": {}, "bruce": {}, "nick": {"*"}, "nobody": {}, "ghost": {}}},
		{map[string]any{"DISABLE_COURSE_CREATION": true, "ENABLE_CREATOR_GROUP": true}, map[string][]string{
			"spiderman": {}, "bruce": {}, "nick": {"*"}, "nobody": {}}},
	}
	for _, tt := range tests {
		if err := e.SetSettings(ctx, tt.settings); err != nil {
			t.Fatal(err)
		}
		for user, want := range tt.want {
			if got := checkAgrees(t, e, user); !slices.Equal(got, want) {
				t.Errorf("settings %v: %s allowed_organizations = %v, want %v", tt.settings, user, got, want)
			}
		}
	}
}
