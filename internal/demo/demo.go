// Package demo loads the demo data that `make run` serves: a small Open edX
// world (orgs Marvel and DC, a few courses, Spiderman as an org-scoped
// course creator in Marvel, an instructor, staff, a beta tester) or an
// Oppia one (courses, a cohort with a teacher and students).
package demo

import (
	"context"
	"fmt"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
)

// Marker is the user whose presence means the demo data was loaded.
const Marker = "demo-admin"

// Load writes the demo data of pack once: it does nothing when the marker
// user exists. It reports whether it wrote anything.
func Load(ctx context.Context, e *engine.Engine, pack string) (bool, error) {
	if _, err := e.User(Marker); err == nil {
		return false, nil
	}
	var users []store.User
	var grants []store.Assignment
	var resources []store.Resource
	u := func(id, name string, staff, super bool) {
		users = append(users, store.User{ID: id, Username: name, Email: name + "@example.com", IsActive: true, IsStaff: staff, IsSuperuser: super, Language: "en"})
	}
	g := func(user, role, scope string) {
		grants = append(grants, store.Assignment{User: user, Role: role, Scope: scope})
	}
	switch pack {
	case "openedx":
		u(Marker, "admin", true, true)
		u("spiderman", "spiderman", false, false)
		u("ironman", "ironman", false, false)
		u("pepper", "pepper", false, false)
		u("ned", "ned", false, false)
		u("batman", "batman", false, false)
		u("mj", "mj", false, false)
		const cs101, avg, jl = "course-v1:Marvel+CS101+2026", "course-v1:Marvel+AVG201+2026", "course-v1:DC+JL101+2026"
		for _, k := range []string{cs101, avg, jl} {
			resources = append(resources, store.Resource{Type: "course", ID: k, Properties: map[string]any{"forum_posts_allowed": true}})
		}
		g("spiderman", "course_creator", "org:Marvel")
		g("ironman", "instructor", "course:"+cs101)
		g("pepper", "staff", "course:"+cs101)
		g("ned", "beta_tester", "course:"+cs101)
		g("mj", "forum_student", "course:"+cs101)
		g("batman", "instructor", "course:"+jl)
		g("ironman", "instructor", "course:"+avg)
	case "oppia":
		u(Marker, "admin", true, true)
		u("teacher", "teacher", false, false)
		u("student1", "student1", false, false)
		u("student2", "student2", false, false)
		u("manager", "manager", false, false)
		resources = append(resources,
			store.Resource{Type: "course", ID: "anatomy", Properties: map[string]any{"status": "live", "owner": "manager"}},
			store.Resource{Type: "course", ID: "midwifery", Properties: map[string]any{"status": "draft", "owner": "manager"}},
			store.Resource{Type: "cohort", ID: "c1", Properties: map[string]any{"courses": []any{"anatomy"}}})
		g("teacher", "teacher", "cohort:c1")
		g("student1", "student", "cohort:c1")
		g("student2", "student", "cohort:c1")
		g("manager", "manager", "course:midwifery")
	default:
		return false, fmt.Errorf("no demo data for pack %q", pack)
	}
	// The marker goes last: a crash half-way loads again at the next start.
	for _, r := range resources {
		if err := e.PutResource(ctx, r, "demo"); err != nil {
			return false, err
		}
	}
	for _, x := range users[1:] {
		if err := e.PutUser(ctx, x, "demo"); err != nil {
			return false, err
		}
	}
	for _, a := range grants {
		if _, err := e.Grant(ctx, a, ""); err != nil {
			return false, fmt.Errorf("demo grant %v: %w", a, err)
		}
	}
	return true, e.PutUser(ctx, users[0], "demo")
}
