package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/provost-lms/provost/internal/scope"
	"github.com/provost-lms/provost/internal/store"
)

// Actions checked for a caller's authority over role writes.
const (
	ActionGrant  = "role.grant"
	ActionRevoke = "role.revoke"
)

// apply commits c to the store and then updates the in-memory state.
// Caller holds writeMu.
func (e *Engine) apply(ctx context.Context, c store.Change) error {
	if c.Empty() {
		return nil
	}
	now := e.opts.Now().UTC()
	for i := range c.Audit {
		if c.Audit[i].Time.IsZero() {
			c.Audit[i].Time = now
		}
	}
	// Deleting a user revokes the user's assignments: revoke them in memory too.
	var revokes []store.Assignment
	for _, id := range c.DeleteUsers {
		for _, g := range e.index.Grants(id) {
			revokes = append(revokes, store.Assignment{User: id, Scope: g[0], Role: g[1]})
		}
	}
	if err := e.store.Apply(ctx, c); err != nil {
		return err
	}
	revokes = append(revokes, c.Revoke...)
	if len(revokes) > 0 {
		if _, err := e.enforcer.RemoveGroupingPolicies(rules(revokes)); err != nil {
			return fmt.Errorf("committed, but updating the role index failed: %w", err)
		}
	}
	if len(c.Grant) > 0 {
		if _, err := e.enforcer.AddGroupingPoliciesEx(rules(c.Grant)); err != nil {
			return fmt.Errorf("committed, but updating the role index failed: %w", err)
		}
	}
	for _, id := range c.DeleteUsers {
		e.catalog.DeleteUser(id)
	}
	for _, u := range c.PutUsers {
		e.catalog.PutUser(u)
	}
	for _, k := range c.DeleteResources {
		e.catalog.DeleteResource(k.Type, k.ID)
	}
	for _, r := range c.PutResources {
		e.catalog.PutResource(r)
	}
	return nil
}

func rules(as []store.Assignment) [][]string {
	out := make([][]string, len(as))
	for i, a := range as {
		out[i] = []string{a.User, a.Role, a.Scope}
	}
	return out
}

// ValidateAssignment reports whether a may be stored: a well-formed scope,
// the pack's scope rules, and a role valid at that kind of scope. Errors
// wrap ErrInvalid.
func (e *Engine) ValidateAssignment(ctx context.Context, a store.Assignment) error {
	return e.validateAssignment(ctx, e.rev.Load(), a)
}

// authorize checks caller's authority for action on assignment a with the
// pack's policy. An empty caller is a system change (the caller of this
// method has checked the admin token).
func (e *Engine) authorize(ctx context.Context, caller, action string, a store.Assignment) error {
	if caller == "" {
		return nil
	}
	d := e.decide(ctx, &Request{
		Subject: Entity{Type: SubjectUser, ID: caller},
		Action:  Action{Name: action},
		Resource: Entity{Type: "role", ID: a.Role, Properties: map[string]any{
			"scope": a.Scope, "user": a.User,
		}},
	})
	if d.Allow {
		return nil
	}
	if strings.HasPrefix(d.Reason, "last_instructor") {
		return fmt.Errorf("%w: %s", ErrLastInstructor, d.Reason)
	}
	return fmt.Errorf("%w: %s may not %s %s at %s for %s: %s", ErrForbidden, caller, strings.TrimPrefix(action, "role."), a.Role, a.Scope, a.User, d.Reason)
}

// lastInstructor reports whether revoking a leaves its course without a
// direct instructor. Caller holds writeMu.
func (e *Engine) lastInstructor(a store.Assignment) bool {
	return a.Role == "instructor" && scope.Kind(a.Scope) == scope.Course &&
		slices.Contains(e.index.DirectRoles(a.User, a.Scope), "instructor") &&
		e.index.HolderCount("instructor", a.Scope) == 1
}

func (e *Engine) userInactive(id string) bool {
	u, _, ok := e.catalog.User(id)
	return ok && !u.IsActive
}

// Grant assigns a role. It reports whether the assignment is new. Checks
// run in this order: input (ErrInvalid), the caller's authority
// (ErrForbidden, judged as if the target were active), an inactive target
// (ErrInactiveUser).
func (e *Engine) Grant(ctx context.Context, a store.Assignment, caller string) (bool, error) {
	if err := e.ValidateAssignment(ctx, a); err != nil {
		return false, err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.authorize(ctx, caller, ActionGrant, a); err != nil {
		return false, err
	}
	if e.userInactive(a.User) {
		return false, fmt.Errorf("%w: user %s is inactive", ErrInactiveUser, a.User)
	}
	if slices.Contains(e.index.DirectRoles(a.User, a.Scope), a.Role) {
		return false, nil
	}
	return true, e.apply(ctx, store.Change{Grant: []store.Assignment{a}, Audit: []store.AuditEntry{{
		Caller: caller, Action: ActionGrant, Target: a.User,
		Details: map[string]any{"role": a.Role, "scope": a.Scope},
	}}})
}

// Revoke removes a role. It reports whether the role was held. Revoking the
// last direct instructor of a course fails with ErrLastInstructor, with or
// without a caller.
func (e *Engine) Revoke(ctx context.Context, a store.Assignment, caller string) (bool, error) {
	if err := e.ValidateAssignment(ctx, a); err != nil {
		return false, err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.authorize(ctx, caller, ActionRevoke, a); err != nil {
		return false, err
	}
	if !slices.Contains(e.index.DirectRoles(a.User, a.Scope), a.Role) {
		return false, nil
	}
	if e.lastInstructor(a) {
		return false, fmt.Errorf("%w: %s is the last direct instructor of %s", ErrLastInstructor, a.User, a.Scope)
	}
	return true, e.apply(ctx, store.Change{Revoke: []store.Assignment{a}, Audit: []store.AuditEntry{{
		Caller: caller, Action: ActionRevoke, Target: a.User,
		Details: map[string]any{"role": a.Role, "scope": a.Scope},
	}}})
}

// SetOrgRoles makes user hold role in exactly orgs, in one transaction.
// Each grant and revoke needs the caller's authority.
func (e *Engine) SetOrgRoles(ctx context.Context, user, role string, orgs []string, caller string) error {
	want := map[string]bool{}
	for _, o := range orgs {
		a := store.Assignment{User: user, Role: role, Scope: scope.Org + ":" + o}
		if err := e.ValidateAssignment(ctx, a); err != nil {
			return err
		}
		want[a.Scope] = true
	}
	if len(orgs) == 0 {
		if err := e.ValidateAssignment(ctx, store.Assignment{User: user, Role: role, Scope: "org:x"}); err != nil {
			return err
		}
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var c store.Change
	for _, g := range e.index.Grants(user) {
		if g[1] == role && scope.Kind(g[0]) == scope.Org {
			if want[g[0]] {
				delete(want, g[0])
				continue
			}
			c.Revoke = append(c.Revoke, store.Assignment{User: user, Role: role, Scope: g[0]})
		}
	}
	for sc := range want {
		c.Grant = append(c.Grant, store.Assignment{User: user, Role: role, Scope: sc})
	}
	slices.SortFunc(c.Grant, func(a, b store.Assignment) int { return strings.Compare(a.Scope, b.Scope) })
	for _, a := range c.Revoke {
		if err := e.authorize(ctx, caller, ActionRevoke, a); err != nil {
			return err
		}
	}
	for _, a := range c.Grant {
		if err := e.authorize(ctx, caller, ActionGrant, a); err != nil {
			return err
		}
	}
	if len(c.Grant) > 0 && e.userInactive(user) {
		return fmt.Errorf("%w: user %s is inactive", ErrInactiveUser, user)
	}
	if c.Empty() {
		return nil
	}
	c.Audit = []store.AuditEntry{{Caller: caller, Action: "org_roles.set", Target: user,
		Details: map[string]any{"role": role, "orgs": orgs}}}
	return e.apply(ctx, c)
}

// PutUser writes a user.
func (e *Engine) PutUser(ctx context.Context, u store.User, caller string) error {
	if err := checkField("user id", u.ID, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	return e.apply(ctx, store.Change{PutUsers: []store.User{u}, Audit: []store.AuditEntry{{
		Caller: caller, Action: "user.put", Target: u.ID,
	}}})
}

// User returns a stored user.
func (e *Engine) User(id string) (store.User, error) {
	u, _, ok := e.catalog.User(id)
	if !ok {
		return store.User{}, fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	return u, nil
}

// DeleteUser deletes a user and the user's role assignments, the last
// instructor of a course included (audited).
func (e *Engine) DeleteUser(ctx context.Context, id, caller string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if !e.catalog.HasUser(id) && !e.index.HasUser(id) {
		return fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	return e.apply(ctx, store.Change{DeleteUsers: []string{id}, Audit: []store.AuditEntry{{
		Caller: caller, Action: "user.delete", Target: id,
		Details: map[string]any{"assignments": len(e.index.Grants(id))},
	}}})
}

// PutResource registers a resource.
func (e *Engine) PutResource(ctx context.Context, r store.Resource, caller string) error {
	if err := errors.Join(checkField("resource type", r.Type, true), checkField("resource id", r.ID, true)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	return e.apply(ctx, store.Change{PutResources: []store.Resource{r}, Audit: []store.AuditEntry{{
		Caller: caller, Action: "resource.put", Target: r.Type + ":" + r.ID,
	}}})
}

// DeleteResource removes a registered resource.
func (e *Engine) DeleteResource(ctx context.Context, typ, id, caller string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if _, ok := e.catalog.Resource(typ, id); !ok {
		return fmt.Errorf("%w: resource %s %s", ErrNotFound, typ, id)
	}
	return e.apply(ctx, store.Change{DeleteResources: []store.ResourceKey{{Type: typ, ID: id}}, Audit: []store.AuditEntry{{
		Caller: caller, Action: "resource.delete", Target: typ + ":" + id,
	}}})
}

// ImportAssignments grants already validated assignments in one
// transaction, with one audit entry for the batch. Assignments already held
// are skipped. It returns how many were new.
func (e *Engine) ImportAssignments(ctx context.Context, as []store.Assignment, caller, source string) (int, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var c store.Change
	seen := map[store.Assignment]bool{}
	for _, a := range as {
		if seen[a] || slices.Contains(e.index.DirectRoles(a.User, a.Scope), a.Role) {
			continue
		}
		seen[a] = true
		c.Grant = append(c.Grant, a)
	}
	if len(c.Grant) == 0 {
		return 0, nil
	}
	c.Audit = []store.AuditEntry{{Caller: caller, Action: "import.course_access_roles", Target: source,
		Details: map[string]any{"granted": len(c.Grant)}}}
	return len(c.Grant), e.apply(ctx, c)
}
