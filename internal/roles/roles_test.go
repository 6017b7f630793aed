package roles_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/casbin/casbin/v2"
	fileadapter "github.com/casbin/casbin/v2/persist/file-adapter"

	"github.com/provost-lms/provost/internal/roles"
	"github.com/provost-lms/provost/internal/scope"
)

// Scopes used throughout.
const (
	marvelCourse  = "course:course-v1:Marvel+CS101+2026"
	marvelCourse2 = "course:course-v1:Marvel+CS102+2026"
	marvelCCX     = "course:ccx-v1:Marvel+CS101+2026+ccx@3"
	marvelLibrary = "library:library-v1:Marvel+Lib1"
	dcCourse      = "course:course-v1:DC+CS101+2026"
	dcLibrary     = "library:library-v1:DC+Lib1"
	// An org whose name has Marvel as a prefix: containment is by exact org.
	marvelousCourse = "course:course-v1:Marvelous+CS101+2026"
	oppiaCourse     = "course:Marvel" // an opaque Oppia course id
	oppiaCourse2    = "course:42"
	orgMarvel       = "org:Marvel"
	orgDC           = "org:DC"
)

// openedxInheritance is the role inheritance of policies/openedx.csv.
var openedxInheritance = [][2]string{
	{"instructor", "staff"},
	{"staff", "limited_staff"},
	{"instructor", "beta_tester"},
}

func newIndex(t *testing.T) *roles.Index {
	t.Helper()
	ix := roles.New()
	for _, e := range openedxInheritance {
		mustAdd(t, ix, e[0], e[1], roles.AnyScope)
	}
	return ix
}

func mustAdd(t testing.TB, ix *roles.Index, name1, name2, domain string) {
	t.Helper()
	if err := ix.AddLink(name1, name2, domain); err != nil {
		t.Fatalf("AddLink(%q, %q, %q): %v", name1, name2, domain, err)
	}
}

func mustDelete(t testing.TB, ix *roles.Index, name1, name2, domain string) {
	t.Helper()
	if err := ix.DeleteLink(name1, name2, domain); err != nil {
		t.Fatalf("DeleteLink(%q, %q, %q): %v", name1, name2, domain, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func equal(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}

func TestAddDeleteAssignment(t *testing.T) {
	ix := newIndex(t)
	if ix.Len() != 0 || ix.HasUser("alice") || len(ix.ScopeList()) != 0 {
		t.Fatalf("new index with only inheritance links: Len=%d HasUser=%v ScopeList=%v, want empty", ix.Len(), ix.HasUser("alice"), ix.ScopeList())
	}

	mustAdd(t, ix, "alice", "staff", marvelCourse)
	mustAdd(t, ix, "alice", "beta_tester", marvelCourse)
	mustAdd(t, ix, "alice", "instructor", orgDC)
	mustAdd(t, ix, "bob", "staff", marvelCourse)

	if got := ix.Len(); got != 4 {
		t.Errorf("Len = %d, want 4", got)
	}
	if !ix.HasUser("alice") || !ix.HasUser("bob") || ix.HasUser("carol") {
		t.Errorf("HasUser alice/bob/carol = %v/%v/%v, want true/true/false", ix.HasUser("alice"), ix.HasUser("bob"), ix.HasUser("carol"))
	}
	if got, want := sorted(ix.ScopeList()), []string{marvelCourse, orgDC}; !slices.Equal(got, want) {
		t.Errorf("ScopeList = %v, want %v", got, want)
	}
	if got, want := ix.Grants("alice"), [][2]string{{marvelCourse, "beta_tester"}, {marvelCourse, "staff"}, {orgDC, "instructor"}}; !slices.Equal(got, want) {
		t.Errorf("Grants(alice) = %v, want %v", got, want)
	}

	// Removing one of two grants at a scope keeps the scope.
	mustDelete(t, ix, "alice", "staff", marvelCourse)
	if got := ix.DirectRoles("alice", marvelCourse); !slices.Equal(got, []string{"beta_tester"}) {
		t.Errorf("after revoking staff, DirectRoles(alice, course) = %v, want [beta_tester]", got)
	}
	if got := ix.HolderCount("staff", marvelCourse); got != 1 {
		t.Errorf("HolderCount(staff, course) = %d, want 1 (bob)", got)
	}
	if got := ix.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}

	// Deleting something absent is a no-op.
	mustDelete(t, ix, "alice", "staff", marvelCourse)
	mustDelete(t, ix, "nobody", "staff", marvelCourse)
	mustDelete(t, ix, "alice", "instructor", orgMarvel)
	if got := ix.Len(); got != 3 {
		t.Errorf("Len after deleting absent links = %d, want 3", got)
	}

	// Removing the last grant of a user removes the user; the last grant at
	// a scope removes the scope.
	mustDelete(t, ix, "alice", "instructor", orgDC)
	if got, want := sorted(ix.ScopeList()), []string{marvelCourse}; !slices.Equal(got, want) {
		t.Errorf("after revoking the only grant at org:DC, ScopeList = %v, want %v", got, want)
	}
	mustDelete(t, ix, "alice", "beta_tester", marvelCourse)
	if ix.HasUser("alice") {
		t.Error("HasUser(alice) after revoking all of alice's grants = true, want false")
	}
	if got := ix.Grants("alice"); len(got) != 0 {
		t.Errorf("Grants(alice) = %v, want none", got)
	}
	if d, _ := ix.GetDomains("alice"); len(d) != 0 {
		t.Errorf("GetDomains(alice) = %v, want none", d)
	}
	mustDelete(t, ix, "bob", "staff", marvelCourse)
	if ix.Len() != 0 || ix.HasUser("bob") || len(ix.ScopeList()) != 0 || ix.HolderCount("staff", marvelCourse) != 0 {
		t.Errorf("after revoking everything: Len=%d HasUser(bob)=%v ScopeList=%v HolderCount=%d, want all empty",
			ix.Len(), ix.HasUser("bob"), ix.ScopeList(), ix.HolderCount("staff", marvelCourse))
	}
	if got := ix.Members(marvelCourse, "staff"); len(got) != 0 {
		t.Errorf("Members(course, staff) = %v, want none", got)
	}
	if all, _ := ix.GetAllDomains(); len(all) != 0 {
		t.Errorf("GetAllDomains = %v, want none", all)
	}
	// Inheritance survives the removal of every assignment.
	if got := ix.Implies("instructor"); !slices.Equal(got, []string{"beta_tester", "instructor", "limited_staff", "staff"}) {
		t.Errorf("Implies(instructor) = %v after removing assignments", got)
	}
}

func TestAddLinkIdempotent(t *testing.T) {
	ix := newIndex(t)
	for range 3 {
		mustAdd(t, ix, "alice", "instructor", marvelCourse)
		mustAdd(t, ix, "instructor", "staff", roles.AnyScope)
	}
	if got := ix.Len(); got != 1 {
		t.Errorf("Len = %d after adding the same assignment 3 times, want 1", got)
	}
	if got := ix.HolderCount("instructor", marvelCourse); got != 1 {
		t.Errorf("HolderCount = %d, want 1", got)
	}
	if got := ix.Members(marvelCourse, "instructor"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("Members = %v, want [alice]", got)
	}
	if got := ix.Grants("alice"); len(got) != 1 {
		t.Errorf("Grants = %v, want one", got)
	}
	if got, _ := ix.GetRoles("instructor", roles.AnyScope); !slices.Equal(sorted(got), []string{"beta_tester", "staff"}) {
		t.Errorf("inheritance edges of instructor = %v, want [beta_tester staff] (no duplicate)", got)
	}
	// One delete undoes it entirely.
	mustDelete(t, ix, "alice", "instructor", marvelCourse)
	if ix.Len() != 0 || ix.HasUser("alice") || ix.HolderCount("instructor", marvelCourse) != 0 {
		t.Errorf("after one delete: Len=%d HasUser=%v HolderCount=%d, want 0/false/0", ix.Len(), ix.HasUser("alice"), ix.HolderCount("instructor", marvelCourse))
	}
}

func TestDomainArgument(t *testing.T) {
	ix := roles.New()
	for _, d := range [][]string{nil, {marvelCourse, orgMarvel}} {
		if err := ix.AddLink("alice", "staff", d...); err == nil {
			t.Errorf("AddLink with domains %v: no error, want one (exactly one scope)", d)
		}
		if err := ix.DeleteLink("alice", "staff", d...); err == nil {
			t.Errorf("DeleteLink with domains %v: no error", d)
		}
		if _, err := ix.HasLink("alice", "staff", d...); err == nil {
			t.Errorf("HasLink with domains %v: no error", d)
		}
	}
	if ix.Len() != 0 {
		t.Errorf("Len = %d after refused links, want 0", ix.Len())
	}
}

func TestInheritanceLinks(t *testing.T) {
	ix := roles.New()
	mustAdd(t, ix, "alice", "instructor", marvelCourse)
	if got := ix.Roles("alice", marvelCourse); !slices.Equal(got, []string{"instructor"}) {
		t.Fatalf("Roles without inheritance = %v, want [instructor]", got)
	}
	// Inheritance added after the assignment applies to it.
	for _, e := range openedxInheritance {
		mustAdd(t, ix, e[0], e[1], roles.AnyScope)
	}
	if got, want := ix.Roles("alice", marvelCourse), []string{"beta_tester", "instructor", "limited_staff", "staff"}; !slices.Equal(got, want) {
		t.Errorf("Roles with inheritance = %v, want %v", got, want)
	}
	if ix.Len() != 1 {
		t.Errorf("inheritance links counted as assignments: Len = %d, want 1", ix.Len())
	}
	if got := ix.ScopeList(); !slices.Equal(got, []string{marvelCourse}) {
		t.Errorf("ScopeList = %v, want only %s (\"*\" is not a scope)", got, marvelCourse)
	}

	hasLink := []struct {
		r1, r2 string
		want   bool
	}{
		{"instructor", "staff", true},
		{"instructor", "limited_staff", true}, // transitive
		{"instructor", "beta_tester", true},
		{"instructor", "instructor", true},
		{"staff", "limited_staff", true},
		{"staff", "instructor", false},
		{"staff", "beta_tester", false},
		{"limited_staff", "staff", false},
		{"beta_tester", "limited_staff", false},
	}
	for _, c := range hasLink {
		if got, err := ix.HasLink(c.r1, c.r2, roles.AnyScope); err != nil || got != c.want {
			t.Errorf("HasLink(%s, %s, *) = %v, %v; want %v", c.r1, c.r2, got, err, c.want)
		}
	}
	if got, want := ix.Implies("staff"), []string{"limited_staff", "staff"}; !slices.Equal(got, want) {
		t.Errorf("Implies(staff) = %v, want %v", got, want)
	}
	if got, want := ix.Implies("forum_student"), []string{"forum_student"}; !slices.Equal(got, want) {
		t.Errorf("Implies(role outside the hierarchy) = %v, want %v", got, want)
	}
	if got, _ := ix.GetUsers("staff", roles.AnyScope); !slices.Equal(got, []string{"instructor"}) {
		t.Errorf("GetUsers(staff, *) = %v, want [instructor] (the roles with an edge to staff)", got)
	}
	if got, _ := ix.GetImplicitRoles("instructor", roles.AnyScope); !slices.Equal(got, []string{"beta_tester", "instructor", "limited_staff", "staff"}) {
		t.Errorf("GetImplicitRoles(instructor, *) = %v", got)
	}

	// Cutting staff ⇒ limited_staff cuts it for instructors too.
	mustDelete(t, ix, "staff", "limited_staff", roles.AnyScope)
	if got, want := ix.Roles("alice", marvelCourse), []string{"beta_tester", "instructor", "staff"}; !slices.Equal(got, want) {
		t.Errorf("Roles after deleting staff⇒limited_staff = %v, want %v", got, want)
	}
	if ok, _ := ix.HasLink("instructor", "limited_staff", roles.AnyScope); ok {
		t.Error("HasLink(instructor, limited_staff, *) still true after the edge was deleted")
	}
	// Deleting an absent edge is a no-op.
	mustDelete(t, ix, "staff", "limited_staff", roles.AnyScope)
	mustDelete(t, ix, "instructor", "staff", roles.AnyScope)
	mustDelete(t, ix, "instructor", "beta_tester", roles.AnyScope)
	if got := ix.Roles("alice", marvelCourse); !slices.Equal(got, []string{"instructor"}) {
		t.Errorf("Roles after deleting every edge = %v, want [instructor]", got)
	}
	if ix.Len() != 1 || !ix.HasUser("alice") {
		t.Errorf("deleting inheritance touched assignments: Len=%d HasUser=%v", ix.Len(), ix.HasUser("alice"))
	}
}

// fixture builds an index with the openedx inheritance and a small set of
// assignments used by the query tests.
func fixture(t *testing.T) *roles.Index {
	ix := newIndex(t)
	for _, a := range [][3]string{
		{"alice", "instructor", marvelCourse},
		{"bob", "staff", orgMarvel},
		{"carol", "staff", marvelCourse},
		{"carol", "beta_tester", marvelCourse},
		{"carol", "data_researcher", orgMarvel},
		{"dave", "library_user", orgMarvel},
		{"dave", "instructor", marvelLibrary},
		{"erin", "instructor", orgDC},
		{"frank", "course_creator", "global"},
		{"gina", "staff", oppiaCourse},
		{"hank", "limited_staff", marvelCourse},
		{"ivan", "instructor", orgMarvel},
		{"ivan", "beta_tester", marvelCourse2},
	} {
		mustAdd(t, ix, a[0], a[1], a[2])
	}
	return ix
}

func TestRoles(t *testing.T) {
	ix := fixture(t)
	instructorAll := []string{"beta_tester", "instructor", "limited_staff", "staff"}
	staffAll := []string{"limited_staff", "staff"}
	tests := []struct {
		name, user, scope string
		want              []string
	}{
		{"course instructor implies staff, limited_staff, beta_tester", "alice", marvelCourse, instructorAll},
		{"course role does not reach another course", "alice", marvelCourse2, nil},
		{"course role does not reach its org", "alice", orgMarvel, nil},
		{"course role does not reach global", "alice", "global", nil},
		{"org staff at the org", "bob", orgMarvel, staffAll},
		{"org staff counts in a course of the org", "bob", marvelCourse, staffAll},
		{"org staff counts in another course of the org", "bob", marvelCourse2, staffAll},
		{"org staff counts in a CCX of the org", "bob", marvelCCX, staffAll},
		{"org staff counts in a library of the org", "bob", marvelLibrary, staffAll},
		{"org staff not in a DC course", "bob", dcCourse, nil},
		{"org staff not in a DC library", "bob", dcLibrary, nil},
		{"org staff not in another org", "bob", orgDC, nil},
		{"org containment is by exact org, not prefix", "bob", marvelousCourse, nil},
		{"org role not in an opaque Oppia course id equal to the org", "bob", oppiaCourse, nil},
		{"org role not in an opaque Oppia course id", "bob", oppiaCourse2, nil},
		{"org role not at global", "bob", "global", nil},
		{"org role not in a cohort", "bob", "cohort:Marvel", nil},
		{"direct roles and org roles combine, sorted and unique", "carol", marvelCourse, []string{"beta_tester", "data_researcher", "limited_staff", "staff"}},
		{"org role only, in another course", "carol", marvelCourse2, []string{"data_researcher"}},
		{"org library_user and library instructor combine", "dave", marvelLibrary, []string{"beta_tester", "instructor", "library_user", "limited_staff", "staff"}},
		{"org instructor in a DC course", "erin", dcCourse, instructorAll},
		{"org instructor not in a Marvel course", "erin", marvelCourse, nil},
		{"global role at global", "frank", "global", []string{"course_creator"}},
		{"global role is not contained scope-wise", "frank", marvelCourse, nil},
		{"opaque course id role", "gina", oppiaCourse, staffAll},
		{"opaque course id role is not an org role", "gina", orgMarvel, nil},
		{"limited_staff implies nothing", "hank", marvelCourse, []string{"limited_staff"}},
		{"org instructor plus a course role", "ivan", marvelCourse2, instructorAll},
		{"unknown user", "nobody", marvelCourse, nil},
		{"unknown scope", "alice", "course:course-v1:Marvel+Nope+1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ix.Roles(tc.user, tc.scope)
			if !equal(got, tc.want) {
				t.Errorf("Roles(%s, %s) = %v, want %v", tc.user, tc.scope, got, tc.want)
			}
			// HasLink and GetImplicitRoles agree with Roles.
			for _, r := range []string{"instructor", "staff", "limited_staff", "beta_tester", "data_researcher", "library_user", "course_creator"} {
				ok, err := ix.HasLink(tc.user, r, tc.scope)
				if err != nil || ok != slices.Contains(tc.want, r) {
					t.Errorf("HasLink(%s, %s, %s) = %v, %v; want %v", tc.user, r, tc.scope, ok, err, slices.Contains(tc.want, r))
				}
			}
			if got, _ := ix.GetImplicitRoles(tc.user, tc.scope); !equal(got, tc.want) {
				t.Errorf("GetImplicitRoles = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDirectQueries(t *testing.T) {
	ix := fixture(t)
	t.Run("DirectRoles", func(t *testing.T) {
		for _, c := range []struct {
			user, scope string
			want        []string
		}{
			{"alice", marvelCourse, []string{"instructor"}}, // no inheritance
			{"bob", marvelCourse, nil},                      // no containment
			{"bob", orgMarvel, []string{"staff"}},
			{"carol", marvelCourse, []string{"beta_tester", "staff"}}, // sorted
			{"carol", orgMarvel, []string{"data_researcher"}},
			{"dave", orgMarvel, []string{"library_user"}},
			{"dave", marvelLibrary, []string{"instructor"}},
			{"ivan", orgMarvel, []string{"instructor"}},
			{"ivan", marvelCourse, nil},
			{"frank", "global", []string{"course_creator"}},
			{"gina", oppiaCourse, []string{"staff"}},
			{"nobody", marvelCourse, nil},
			// Neighbouring scopes and ids are not matches.
			{"alice", "course:course-v1:Marvel+CS101+2026x", nil},
			{"alice", "course:course-v1:Marvel+CS101+202", nil},
			{"alice", "course:course-v1:marvel+CS101+2026", nil}, // case matters
			{"carol", "org:Marve", nil},
			{"carol", marvelCourse + "\x00beta_tester", nil},
			{"carol\x00", marvelCourse, nil},
			{"carol", "", nil},
			{"", marvelCourse, nil},
		} {
			if got := ix.DirectRoles(c.user, c.scope); !equal(got, c.want) {
				t.Errorf("DirectRoles(%q, %q) = %v, want %v", c.user, c.scope, got, c.want)
			}
			if got, _ := ix.GetRoles(c.user, c.scope); c.scope != roles.AnyScope && !equal(got, c.want) {
				t.Errorf("GetRoles(%q, %q) = %v, want %v", c.user, c.scope, got, c.want)
			}
		}
	})
	t.Run("HolderCount", func(t *testing.T) {
		mustAdd(t, ix, "zed", "instructor", marvelCourse)
		defer mustDelete(t, ix, "zed", "instructor", marvelCourse)
		for _, c := range []struct {
			role, scope string
			want        int
		}{
			{"instructor", marvelCourse, 2}, // alice, zed; ivan's org instructor does not count
			{"staff", marvelCourse, 1},      // carol only: instructors imply staff but are not holders
			{"limited_staff", marvelCourse, 1},
			{"instructor", orgMarvel, 1},
			{"staff", orgMarvel, 1},
			{"instructor", marvelCourse2, 0},
			{"instructor", dcCourse, 0},
			{"course_creator", "global", 1},
			{"nosuch", marvelCourse, 0},
		} {
			if got := ix.HolderCount(c.role, c.scope); got != c.want {
				t.Errorf("HolderCount(%s, %s) = %d, want %d", c.role, c.scope, got, c.want)
			}
		}
	})
	t.Run("Scopes", func(t *testing.T) {
		for _, c := range []struct {
			user, role string
			want       []string
		}{
			{"alice", "instructor", []string{marvelCourse}},
			{"alice", "staff", []string{marvelCourse}},         // through instructor ⇒ staff
			{"alice", "limited_staff", []string{marvelCourse}}, // transitively
			{"alice", "data_researcher", nil},
			{"bob", "staff", []string{orgMarvel}}, // no expansion to the org's courses
			{"bob", "instructor", nil},
			{"carol", "staff", []string{marvelCourse}},
			{"carol", "beta_tester", []string{marvelCourse}},
			{"carol", "data_researcher", []string{orgMarvel}},
			{"ivan", "beta_tester", []string{marvelCourse2, orgMarvel}}, // direct and implied, sorted
			{"ivan", "staff", []string{orgMarvel}},
			{"nobody", "staff", nil},
		} {
			if got := ix.Scopes(c.user, c.role); !equal(got, c.want) {
				t.Errorf("Scopes(%s, %s) = %v, want %v", c.user, c.role, got, c.want)
			}
		}
		// Two roles at one scope both implying the role: the scope once.
		mustAdd(t, ix, "carol", "instructor", marvelCourse)
		defer mustDelete(t, ix, "carol", "instructor", marvelCourse)
		if got := ix.Scopes("carol", "staff"); !slices.Equal(got, []string{marvelCourse}) {
			t.Errorf("Scopes(carol, staff) with staff and instructor at one course = %v, want the course once", got)
		}
	})
	t.Run("Members", func(t *testing.T) {
		for _, c := range []struct {
			scope, role string
			want        []string
		}{
			{marvelCourse, "instructor", []string{"alice"}},
			{marvelCourse, "staff", []string{"alice", "carol"}},                 // instructor ⇒ staff; org members not listed
			{marvelCourse, "limited_staff", []string{"alice", "carol", "hank"}}, // transitively
			{marvelCourse, "beta_tester", []string{"alice", "carol"}},           // direct and implied, once each
			{marvelCourse, "data_researcher", nil},                              // carol's is at the org
			{orgMarvel, "staff", []string{"bob", "ivan"}},
			{orgMarvel, "beta_tester", []string{"ivan"}},
			{orgMarvel, "library_user", []string{"dave"}},
			{marvelCourse2, "staff", nil}, // exactly at scope: ivan's org role is not here
			{marvelCourse2, "beta_tester", []string{"ivan"}},
			{marvelLibrary, "staff", []string{"dave"}},
			{marvelLibrary, "library_user", nil}, // dave's library_user is at the org
			{"global", "course_creator", []string{"frank"}},
			{orgDC, "beta_tester", []string{"erin"}},
			{dcCourse, "instructor", nil},
			{oppiaCourse, "limited_staff", []string{"gina"}},
			{marvelCourse, "forum_student", nil}, // a role outside the hierarchy
			{marvelCourse, "nosuch", nil},
			{marvelCourse, "Staff", nil},
			{"", "staff", nil},
		} {
			if got := ix.Members(c.scope, c.role); !equal(got, c.want) {
				t.Errorf("Members(%q, %q) = %v, want %v", c.scope, c.role, got, c.want)
			}
			if got, _ := ix.GetImplicitUsers(c.role, c.scope); !equal(got, c.want) {
				t.Errorf("GetImplicitUsers(%q, %q) = %v, want %v", c.role, c.scope, got, c.want)
			}
		}
	})
	t.Run("GetUsers", func(t *testing.T) {
		if got, _ := ix.GetUsers("staff", marvelCourse); !slices.Equal(got, []string{"carol"}) {
			t.Errorf("GetUsers(staff, course) = %v, want [carol] (direct holders only)", got)
		}
	})
	t.Run("GetDomains", func(t *testing.T) {
		for _, c := range []struct {
			user string
			want []string
		}{
			{"alice", []string{marvelCourse}},
			{"carol", []string{marvelCourse, orgMarvel}}, // two roles at the course: listed once
			{"ivan", []string{marvelCourse2, orgMarvel}},
			{"nobody", nil},
		} {
			if got, err := ix.GetDomains(c.user); err != nil || !equal(got, c.want) {
				t.Errorf("GetDomains(%s) = %v, %v; want %v", c.user, got, err, c.want)
			}
		}
		all, _ := ix.GetAllDomains()
		want := []string{marvelCourse, marvelCourse2, marvelLibrary, oppiaCourse, "global", orgDC, orgMarvel}
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Errorf("GetAllDomains = %v, want %v", all, want)
		}
	})
}

func TestDeleteDomain(t *testing.T) {
	ix := fixture(t)
	before := ix.Len()
	// marvelCourse holds alice instructor, carol staff + beta_tester, hank limited_staff.
	if err := ix.DeleteDomain(marvelCourse); err != nil {
		t.Fatal(err)
	}
	if got, want := ix.Len(), before-4; got != want {
		t.Errorf("Len after DeleteDomain = %d, want %d", got, want)
	}
	if slices.Contains(ix.ScopeList(), marvelCourse) {
		t.Errorf("ScopeList still lists %s", marvelCourse)
	}
	for _, u := range []string{"alice", "carol", "hank"} {
		if got := ix.DirectRoles(u, marvelCourse); len(got) != 0 {
			t.Errorf("DirectRoles(%s, course) = %v after DeleteDomain", u, got)
		}
	}
	if ix.HasUser("alice") || ix.HasUser("hank") {
		t.Error("users whose only grants were at the deleted scope are still known")
	}
	if !ix.HasUser("carol") || !slices.Equal(ix.DirectRoles("carol", orgMarvel), []string{"data_researcher"}) {
		t.Error("carol's org grant was touched by DeleteDomain of a course")
	}
	// Org roles still count in the course.
	if got := ix.Roles("bob", marvelCourse); !slices.Equal(got, []string{"limited_staff", "staff"}) {
		t.Errorf("Roles(bob, course) = %v after DeleteDomain(course); the org grant must still count", got)
	}
	if got := ix.HolderCount("instructor", marvelCourse); got != 0 {
		t.Errorf("HolderCount = %d, want 0", got)
	}
	// Deleting an unknown scope is a no-op.
	n := ix.Len()
	if err := ix.DeleteDomain("course:nope"); err != nil || ix.Len() != n {
		t.Errorf("DeleteDomain(unknown) = %v, Len %d → %d", err, n, ix.Len())
	}
	// Inheritance is not a domain that DeleteDomain touches.
	if got := ix.Implies("instructor"); len(got) != 4 {
		t.Errorf("Implies(instructor) = %v after DeleteDomain", got)
	}
}

func TestClear(t *testing.T) {
	ix := fixture(t)
	if err := ix.Clear(); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 || ix.HasUser("alice") || len(ix.ScopeList()) != 0 {
		t.Errorf("after Clear: Len=%d HasUser=%v ScopeList=%v", ix.Len(), ix.HasUser("alice"), ix.ScopeList())
	}
	if got := ix.Roles("bob", marvelCourse); got != nil {
		t.Errorf("Roles after Clear = %v", got)
	}
	if got := ix.Implies("instructor"); !slices.Equal(got, []string{"instructor"}) {
		t.Errorf("Implies(instructor) after Clear = %v, want [instructor] (inheritance cleared too)", got)
	}
	// The index is usable after Clear.
	mustAdd(t, ix, "alice", "staff", marvelCourse)
	if ix.Len() != 1 || !slices.Equal(ix.Roles("alice", marvelCourse), []string{"staff"}) {
		t.Errorf("after Clear and AddLink: Len=%d Roles=%v", ix.Len(), ix.Roles("alice", marvelCourse))
	}
}

// repoRoot is the repository root, computed from this file's location so
// that the test does not depend on the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// newEnforcer wires the index into Casbin the way engine.loadCasbin does,
// with the openedx pack's CSV through the file adapter.
func newEnforcer(t *testing.T) (*casbin.SyncedEnforcer, *roles.Index) {
	t.Helper()
	root := repoRoot(t)
	enf, err := casbin.NewSyncedEnforcer(filepath.Join(root, "model.conf"), fileadapter.NewAdapter(filepath.Join(root, "policies", "openedx.csv")))
	if err != nil {
		t.Fatal(err)
	}
	enf.EnableLog(false)
	enf.EnableAutoSave(false) // never write the repository's CSV
	ix := roles.New()
	enf.SetRoleManager(ix)
	enf.AddFunction("scopeKind", func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, errors.New("scopeKind takes one argument")
		}
		s, _ := args[0].(string)
		return scope.Kind(s), nil
	})
	if err := enf.LoadPolicy(); err != nil {
		t.Fatal(err)
	}
	return enf, ix
}

func TestCasbinIntegration(t *testing.T) {
	enf, ix := newEnforcer(t)
	// LoadPolicy built our index from the CSV's "*" lines.
	if got := ix.Implies("instructor"); !slices.Equal(got, []string{"beta_tester", "instructor", "limited_staff", "staff"}) {
		t.Fatalf("after LoadPolicy, Implies(instructor) = %v: the CSV inheritance did not reach the index", got)
	}
	if ix.Len() != 0 {
		t.Fatalf("after LoadPolicy, Len = %d, want 0 (the CSV holds no assignments)", ix.Len())
	}
	grants := [][]string{
		{"alice", "instructor", marvelCourse},
		{"bob", "staff", orgMarvel},
		{"dave", "library_user", orgMarvel},
		{"frank", "course_creator", "global"},
		{"gina", "instructor", marvelLibrary},
	}
	if ok, err := enf.AddGroupingPolicies(grants); err != nil || !ok {
		t.Fatalf("AddGroupingPolicies = %v, %v", ok, err)
	}
	if ix.Len() != len(grants) {
		t.Fatalf("index Len = %d after AddGroupingPolicies, want %d", ix.Len(), len(grants))
	}

	tests := []struct {
		user, role, scope string
		want              bool
	}{
		{"alice", "instructor", marvelCourse, true},
		{"alice", "staff", marvelCourse, true},         // inherited, valid at course
		{"alice", "limited_staff", marvelCourse, true}, // inherited twice
		{"alice", "beta_tester", marvelCourse, true},
		{"alice", "data_researcher", marvelCourse, false}, // valid there, not held
		{"alice", "instructor", marvelCourse2, false},     // another course
		{"alice", "instructor", orgMarvel, false},         // not upward
		{"bob", "staff", marvelCourse, true},              // org containment
		{"bob", "limited_staff", marvelCourse, true},      // containment + inheritance
		{"bob", "staff", marvelCCX, true},                 // a CCX is a course of the org
		{"bob", "staff", marvelLibrary, true},             // staff is valid at library
		{"bob", "limited_staff", marvelLibrary, false},    // held, but not valid at library scope
		{"bob", "staff", orgMarvel, true},
		{"bob", "limited_staff", orgMarvel, false}, // held, but not an org-scope role
		{"bob", "staff", dcCourse, false},
		{"bob", "staff", marvelousCourse, false},
		{"bob", "staff", oppiaCourse, false},          // opaque id: no org containment
		{"dave", "library_user", marvelLibrary, true}, // org library_user counts in the org's libraries
		{"dave", "library_user", marvelCourse, false}, // held there by containment, but not a course role
		{"frank", "course_creator", "global", true},
		{"frank", "course_creator", orgMarvel, false},
		{"gina", "instructor", marvelLibrary, true},
		{"gina", "staff", marvelLibrary, true},
		{"gina", "beta_tester", marvelLibrary, false}, // implied, but beta_tester is not a library role
		{"nobody", "staff", marvelCourse, false},
		{"alice", "nosuch", marvelCourse, false},
	}
	check := func(t *testing.T, tc struct {
		user, role, scope string
		want              bool
	}, want bool) {
		t.Helper()
		got, err := enf.Enforce(tc.user, tc.role, tc.scope)
		if err != nil {
			t.Fatalf("Enforce(%s, %s, %s): %v", tc.user, tc.role, tc.scope, err)
		}
		if got != want {
			t.Errorf("Enforce(%s, %s, %s) = %v, want %v", tc.user, tc.role, tc.scope, got, want)
		}
	}
	for _, tc := range tests {
		check(t, tc, tc.want)
	}

	// A revoke takes effect on the very next Enforce (no stale answer).
	for range 3 { // alternate, so a cached answer in either direction would show
		if ok, err := enf.RemoveGroupingPolicy("bob", "staff", orgMarvel); err != nil || !ok {
			t.Fatalf("RemoveGroupingPolicy = %v, %v", ok, err)
		}
		if ix.HasUser("bob") {
			t.Fatal("the index still holds bob after RemoveGroupingPolicy")
		}
		for _, tc := range tests {
			if tc.user == "bob" {
				check(t, tc, false)
			}
		}
		if ok, err := enf.AddGroupingPolicy("bob", "staff", orgMarvel); err != nil || !ok {
			t.Fatalf("AddGroupingPolicy = %v, %v", ok, err)
		}
		for _, tc := range tests {
			if tc.user == "bob" {
				check(t, tc, tc.want)
			}
		}
	}

	// Changing the inheritance through Casbin takes effect immediately.
	if ok, err := enf.RemoveGroupingPolicy("instructor", "staff", roles.AnyScope); err != nil || !ok {
		t.Fatalf("RemoveGroupingPolicy(instructor, staff, *) = %v, %v", ok, err)
	}
	check(t, tests[1], false) // alice staff at course
	check(t, tests[2], false) // alice limited_staff at course
	check(t, tests[3], true)  // instructor ⇒ beta_tester still holds
	if ok, err := enf.AddGroupingPolicy("instructor", "staff", roles.AnyScope); err != nil || !ok {
		t.Fatalf("AddGroupingPolicy(instructor, staff, *) = %v, %v", ok, err)
	}
	check(t, tests[1], true)

	// LoadPolicy rebuilds the index from the adapter: the assignments added
	// in memory (not saved: the file adapter holds only the pack) are gone.
	if err := enf.LoadPolicy(); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("after LoadPolicy, Len = %d, want 0", ix.Len())
	}
	check(t, tests[0], false)
}

// TestConcurrentReadsAndWrites runs readers of Roles and friends against
// writers of assignments and inheritance links; run with -race.
func TestConcurrentReadsAndWrites(t *testing.T) {
	ix := newIndex(t)
	// A stable grant, never touched by the writers.
	mustAdd(t, ix, "stable", "instructor", orgMarvel)
	instructorAll := []string{"beta_tester", "instructor", "limited_staff", "staff"}

	const writers, readers, rounds = 4, 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, readers+writers)
	for w := range writers {
		wg.Go(func() {
			user := fmt.Sprintf("w%d", w)
			for i := range rounds {
				sc := fmt.Sprintf("course:course-v1:Marvel+C%d+R", i%7)
				if err := ix.AddLink(user, "staff", sc); err != nil {
					errs <- err
					return
				}
				if err := ix.AddLink(user, "instructor", orgMarvel); err != nil {
					errs <- err
					return
				}
				if w == 0 && i%50 == 0 { // occasionally rebuild the hierarchy
					_ = ix.AddLink("beta_tester", "forum_student", roles.AnyScope)
					_ = ix.DeleteLink("beta_tester", "forum_student", roles.AnyScope)
				}
				if err := ix.DeleteLink(user, "staff", sc); err != nil {
					errs <- err
					return
				}
				if err := ix.DeleteLink(user, "instructor", orgMarvel); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for i := range rounds {
				sc := fmt.Sprintf("course:course-v1:Marvel+C%d+R", (i+r)%7)
				got := ix.Roles("stable", sc)
				// forum_student may appear while writer 0 briefly adds it.
				got = slices.DeleteFunc(got, func(s string) bool { return s == "forum_student" })
				if !slices.Equal(got, instructorAll) {
					errs <- fmt.Errorf("Roles(stable, %s) = %v during writes, want %v", sc, got, instructorAll)
					return
				}
				w := ix.Roles(fmt.Sprintf("w%d", r%writers), sc)
				if !slices.IsSorted(w) || len(slices.Compact(slices.Clone(w))) != len(w) {
					errs <- fmt.Errorf("Roles result %v is not sorted and unique", w)
					return
				}
				_ = ix.Members(sc, "staff")
				_ = ix.Scopes("stable", "staff")
				_ = ix.HolderCount("instructor", orgMarvel)
				_ = ix.ScopeList()
				_ = ix.Len()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ix.Len() != 1 || !slices.Equal(ix.ScopeList(), []string{orgMarvel}) {
		t.Errorf("after balanced adds and deletes: Len=%d ScopeList=%v, want 1 and [%s]", ix.Len(), ix.ScopeList(), orgMarvel)
	}
	if got := ix.Members(orgMarvel, "instructor"); !slices.Equal(got, []string{"stable"}) {
		t.Errorf("Members(org, instructor) = %v, want [stable]", got)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestNoLeakAfterRemoval checks that the index frees what it held for users
// and scopes whose last assignment is gone: a long-running server grants
// and revokes many distinct users and scopes over time.
func TestNoLeakAfterRemoval(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred thousand links")
	}
	ix := newIndex(t)
	mustAdd(t, ix, "stable", "staff", orgMarvel)
	churn := func(round, n int) {
		for i := range n {
			user := fmt.Sprintf("user-%d-%d-with-a-longish-id", round, i)
			sc := fmt.Sprintf("course:course-v1:Org%d+C%d+R%d", round, i, round)
			mustAdd(t, ix, user, "staff", sc)
			mustDelete(t, ix, user, "staff", sc)
		}
	}
	const n = 100_000
	churn(0, 1000) // warm up maps that legitimately stay
	before := liveHeap()
	churn(1, n)
	after := liveHeap()
	if ix.Len() != 1 || len(ix.ScopeList()) != 1 {
		t.Fatalf("after churn: Len=%d ScopeList=%v, want only the stable grant", ix.Len(), ix.ScopeList())
	}
	// Keeping the ids of 100,000 users and scopes costs over 10 MB; the
	// maps' tables may keep some capacity, well under that.
	grown := int64(after) - int64(before)
	t.Logf("live heap %d KiB → %d KiB after adding and removing %d users and scopes", before>>10, after>>10, n)
	if grown > 4<<20 {
		t.Errorf("live heap grew by %d KiB after adding and removing %d users and scopes: the index keeps removed ids", grown>>10, n)
	}
}
