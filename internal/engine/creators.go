package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/provost-lms/provost/internal/scope"
	"github.com/provost-lms/provost/internal/store"
)

// Course-creator states (Open edX course_creators).
const (
	CreatorUnrequested = "unrequested"
	CreatorPending     = "pending"
	CreatorGranted     = "granted"
	CreatorDenied      = "denied"
)

// RoleCourseCreator is the role held, globally or per org, by a granted
// course creator.
const RoleCourseCreator = "course_creator"

// ActionCreateCourse is the pack action that allowed_organizations agrees with.
const ActionCreateCourse = "course.create"

// Audit actions of course-creator changes. Mails are recorded as audit
// entries (target: the recipient) until the mail plugin sends them.
const (
	auditCreatorSet     = "course_creator.set"
	auditCreatorRequest = "course_creator.request"
	auditMailPrefix     = "mail."
)

// CreatorRecord is a user's course-creator record. State "granted" and the
// organizations are read from the course_creator roles; AllowedOrganizations
// lists the orgs where course.create is allowed ("*" for any org).
type CreatorRecord struct {
	State                string   `json:"state"`
	AllOrganizations     bool     `json:"all_organizations"`
	Organizations        []string `json:"organizations"`
	AllowedOrganizations []string `json:"allowed_organizations"`
}

// creatorGrant is a user's course_creator roles.
type creatorGrant struct {
	all  bool
	orgs []string // sorted
}

func (g creatorGrant) held() bool { return g.all || len(g.orgs) > 0 }

// scopes returns the scopes of the roles, sorted.
func (g creatorGrant) scopes() []string {
	var out []string
	if g.all {
		out = append(out, scope.Global)
	}
	for _, o := range g.orgs {
		out = append(out, scope.Org+":"+o)
	}
	slices.Sort(out)
	return out
}

// creatorGrantOf reads user's course_creator roles from the role index.
func (e *Engine) creatorGrantOf(user string) creatorGrant {
	var g creatorGrant
	for _, sr := range e.index.Grants(user) {
		if sr[1] != RoleCourseCreator {
			continue
		}
		switch {
		case sr[0] == scope.Global:
			g.all = true
		case scope.Kind(sr[0]) == scope.Org:
			g.orgs = append(g.orgs, strings.TrimPrefix(sr[0], scope.Org+":"))
		}
	}
	slices.Sort(g.orgs)
	g.orgs = slices.Compact(g.orgs)
	return g
}

// storedCreatorState returns the stored state of user, "" when none.
func (e *Engine) storedCreatorState(ctx context.Context, user string) (string, error) {
	cs, err := e.store.GetCreatorState(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return cs.State, err
}

// creatorState returns the state as read: granted when a course_creator
// role is held, else the stored state, else unrequested.
func (e *Engine) creatorState(ctx context.Context, user string) (string, creatorGrant, error) {
	g := e.creatorGrantOf(user)
	if g.held() {
		return CreatorGranted, g, nil
	}
	st, err := e.storedCreatorState(ctx, user)
	if err != nil || st == "" {
		return CreatorUnrequested, g, err
	}
	return st, g, nil
}

// CourseCreator returns user's course-creator record. Its
// allowed_organizations agree with course.create decisions at the time of
// the call.
func (e *Engine) CourseCreator(ctx context.Context, user string) (CreatorRecord, error) {
	if err := checkField("user", user, true); err != nil {
		return CreatorRecord{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	state, g, err := e.creatorState(ctx, user)
	if err != nil {
		return CreatorRecord{}, err
	}
	allowed, err := e.AllowedOrganizations(ctx, user)
	if err != nil {
		return CreatorRecord{}, err
	}
	orgs := g.orgs
	if orgs == nil {
		orgs = []string{}
	}
	return CreatorRecord{State: state, AllOrganizations: g.all, Organizations: orgs, AllowedOrganizations: allowed}, nil
}

// AllowedOrganizations returns the orgs in which user may create courses:
// ["*"] when course.create is allowed on an org that no role, resource or
// course names (any org), else the known orgs where it is allowed (the
// resource search), [] when none. Both come from the pack's decisions, so
// settings, global staff and an inactive user change the answer exactly as
// they change course.create.
func (e *Engine) AllowedOrganizations(ctx context.Context, user string) ([]string, error) {
	subject := Entity{Type: SubjectUser, ID: user}
	action := Action{Name: ActionCreateCourse}
	probe := &Request{Subject: subject, Action: action, Resource: Entity{Type: scope.Org, ID: e.unknownOrg()}}
	if e.decide(ctx, probe).Allow {
		return []string{"*"}, nil
	}
	out := []string{}
	page := Page{Limit: MaxPageSize}
	for {
		res, err := e.SearchResources(ctx, &Request{Subject: subject, Action: action, Resource: Entity{Type: scope.Org}}, page)
		if err != nil {
			return nil, err
		}
		out = append(out, res.IDs...)
		if res.NextToken == "" {
			return out, nil
		}
		page.Token = res.NextToken
	}
}

// unknownOrg returns a valid org id that is not a known org.
func (e *Engine) unknownOrg() string {
	known := e.KnownResources(scope.Org)
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := "provost-probe-" + hex.EncodeToString(b[:])
		if _, found := slices.BinarySearch(known, id); !found {
			return id
		}
	}
}

// ValidateCourseCreator checks a course-creator write: a known state;
// for granted, exactly one of allOrgs or a non-empty orgs, each a valid org
// scope for course_creator. Other states ignore allOrgs and orgs. Errors
// wrap ErrInvalid.
func (e *Engine) ValidateCourseCreator(ctx context.Context, user, state string, allOrgs bool, orgs []string) error {
	if err := checkField("user", user, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch state {
	case CreatorUnrequested, CreatorPending, CreatorDenied:
		// The role must exist in the pack: every state may revoke it.
		return e.ValidateAssignment(ctx, store.Assignment{User: user, Role: RoleCourseCreator, Scope: scope.Global})
	case CreatorGranted:
	case "":
		return fmt.Errorf("%w: state is missing: want unrequested, pending, granted or denied", ErrInvalid)
	default:
		return fmt.Errorf("%w: state %q: want unrequested, pending, granted or denied", ErrInvalid, state)
	}
	switch {
	case allOrgs && len(orgs) > 0:
		return fmt.Errorf("%w: granted takes all_organizations true or a list of organizations, not both", ErrInvalid)
	case !allOrgs && len(orgs) == 0:
		return fmt.Errorf("%w: granted needs all_organizations true or a non-empty list of organizations", ErrInvalid)
	}
	for _, sc := range (creatorGrant{all: allOrgs, orgs: orgs}).scopes() {
		if err := e.ValidateAssignment(ctx, store.Assignment{User: user, Role: RoleCourseCreator, Scope: sc}); err != nil {
			return err
		}
	}
	return nil
}

// SetCourseCreator sets user's course-creator state in one transaction:
// granted with allOrgs holds the global course_creator role, granted with
// orgs holds course_creator in exactly those orgs, and any other state holds
// neither and is stored. A caller needs the authority to grant (revoke)
// every course_creator role added (removed), and to grant the global role
// when the stored state changes or nothing changes. The user is mailed on a
// change to granted or denied, the active staff on a change to pending.
// Checks run in this order: input (ErrInvalid), authority (ErrForbidden),
// an inactive target that would gain a role (ErrInactiveUser).
func (e *Engine) SetCourseCreator(ctx context.Context, user, state string, allOrgs bool, orgs []string, caller string) (CreatorRecord, error) {
	orgs = slices.Compact(slices.Sorted(slices.Values(orgs)))
	if err := e.ValidateCourseCreator(ctx, user, state, allOrgs, orgs); err != nil {
		return CreatorRecord{}, err
	}
	want := creatorGrant{}
	if state == CreatorGranted {
		want = creatorGrant{all: allOrgs, orgs: orgs}
	}
	storeState := state
	if state == CreatorGranted || state == CreatorUnrequested {
		storeState = "" // granted lives in the roles; unrequested is the default
	}
	if err := e.setCourseCreator(ctx, user, state, storeState, want, caller); err != nil {
		return CreatorRecord{}, err
	}
	return e.CourseCreator(ctx, user)
}

func (e *Engine) setCourseCreator(ctx context.Context, user, state, storeState string, want creatorGrant, caller string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	prev, have, err := e.creatorState(ctx, user)
	if err != nil {
		return err
	}
	stored, err := e.storedCreatorState(ctx, user)
	if err != nil {
		return err
	}
	var c store.Change
	haveScopes, wantScopes := have.scopes(), want.scopes()
	for _, sc := range haveScopes {
		if !slices.Contains(wantScopes, sc) {
			c.Revoke = append(c.Revoke, store.Assignment{User: user, Role: RoleCourseCreator, Scope: sc})
		}
	}
	for _, sc := range wantScopes {
		if !slices.Contains(haveScopes, sc) {
			c.Grant = append(c.Grant, store.Assignment{User: user, Role: RoleCourseCreator, Scope: sc})
		}
	}
	stateChanged := stored != storeState
	if caller != "" {
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
		if stateChanged || (len(c.Revoke) == 0 && len(c.Grant) == 0) {
			if err := e.authorize(ctx, caller, ActionGrant, globalCreator(user)); err != nil {
				return err
			}
		}
	}
	if len(c.Grant) > 0 && e.userInactive(user) {
		return fmt.Errorf("%w: user %s is inactive", ErrInactiveUser, user)
	}
	if !stateChanged && len(c.Revoke) == 0 && len(c.Grant) == 0 {
		return nil
	}
	if stateChanged {
		c.CreatorStates = []store.CreatorState{{User: user, State: storeState}}
	}
	c.Audit = append(c.Audit, roleAudit(caller, ActionRevoke, c.Revoke)...)
	c.Audit = append(c.Audit, roleAudit(caller, ActionGrant, c.Grant)...)
	c.Audit = append(c.Audit, store.AuditEntry{Caller: caller, Action: auditCreatorSet, Target: user, Details: map[string]any{
		"state": state, "previous_state": prev, "all_organizations": want.all, "organizations": nonNil(want.orgs),
	}})
	if prev != state {
		c.Audit = append(c.Audit, e.creatorMails(caller, user, state)...)
	}
	return e.apply(ctx, c)
}

// RequestCourseCreator moves user to pending unless granted (or already
// pending, which changes nothing). A caller may request for themself when
// active; for another user they need the authority to grant the global
// course_creator role. The active staff are mailed.
func (e *Engine) RequestCourseCreator(ctx context.Context, user, caller string) (CreatorRecord, error) {
	if err := e.ValidateCourseCreator(ctx, user, CreatorPending, false, nil); err != nil {
		return CreatorRecord{}, err
	}
	if err := e.requestCourseCreator(ctx, user, caller); err != nil {
		return CreatorRecord{}, err
	}
	return e.CourseCreator(ctx, user)
}

func (e *Engine) requestCourseCreator(ctx context.Context, user, caller string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if caller != "" && (caller != user || e.userInactive(caller)) {
		if err := e.authorize(ctx, caller, ActionGrant, globalCreator(user)); err != nil {
			return err
		}
	}
	if e.userInactive(user) {
		return fmt.Errorf("%w: user %s is inactive", ErrInactiveUser, user)
	}
	prev, _, err := e.creatorState(ctx, user)
	if err != nil || prev == CreatorGranted || prev == CreatorPending {
		return err
	}
	c := store.Change{
		CreatorStates: []store.CreatorState{{User: user, State: CreatorPending}},
		Audit: []store.AuditEntry{{Caller: caller, Action: auditCreatorRequest, Target: user,
			Details: map[string]any{"state": CreatorPending, "previous_state": prev}}},
	}
	c.Audit = append(c.Audit, e.creatorMails(caller, user, CreatorPending)...)
	return e.apply(ctx, c)
}

// creatorMails returns the audit entries standing for the mails of a
// change to state: the user on granted and denied, every active staff user
// on pending.
func (e *Engine) creatorMails(caller, user, state string) []store.AuditEntry {
	msg := "course_creator_" + state
	var to []string
	switch state {
	case CreatorGranted, CreatorDenied:
		to = []string{user}
	case CreatorPending:
		for _, id := range e.catalog.UsersWhere("is_staff", true) {
			if !e.userInactive(id) {
				to = append(to, id)
			}
		}
	}
	out := make([]store.AuditEntry, 0, len(to))
	for _, id := range to {
		d := map[string]any{"message_type": msg, "user": user}
		if u, _, ok := e.catalog.User(id); ok && u.Email != "" {
			d["email"] = u.Email
		}
		out = append(out, store.AuditEntry{Caller: caller, Action: auditMailPrefix + msg, Target: id, Details: d})
	}
	return out
}

func globalCreator(user string) store.Assignment {
	return store.Assignment{User: user, Role: RoleCourseCreator, Scope: scope.Global}
}

func roleAudit(caller, action string, as []store.Assignment) []store.AuditEntry {
	out := make([]store.AuditEntry, 0, len(as))
	for _, a := range as {
		out = append(out, store.AuditEntry{Caller: caller, Action: action, Target: a.User,
			Details: map[string]any{"role": a.Role, "scope": a.Scope}})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
