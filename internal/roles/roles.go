// Package roles is Provost's Casbin role manager: an in-memory index of
// role assignments (user, role, scope) with the pack's role inheritance and
// scope containment (a role held at an org counts in every course and
// library of that org). It implements Casbin's rbac.RoleManager, so Casbin
// loads it from the model, the pack's CSV and the store's adapter, and the
// decision path reads it directly: lookups are map reads under a read lock,
// with no disk access and no per-request allocation beyond the result.
//
// Links in the "*" domain are role inheritance (g, instructor, staff, *);
// every other link is an assignment (g, user, role, scope).
package roles

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2/log"
	"github.com/casbin/casbin/v2/rbac"

	"github.com/provost-lms/provost/internal/scope"
)

// AnyScope is the Casbin domain of role-inheritance links.
const AnyScope = "*"

type grant struct {
	scope string
	role  string
}

// Index is a concurrency-safe role manager.
type Index struct {
	mu sync.RWMutex
	// implies maps a role to the roles it implies, itself included,
	// transitively closed; impliedBy is the inverse.
	edges     map[string][]string
	implies   map[string][]string
	impliedBy map[string][]string
	// byUser lists each user's direct grants sorted by (scope, role).
	byUser map[string][]grant
	// holders maps scope\x00role to the users holding role directly at scope.
	holders map[string][]string
	// scopes counts the assignments at each scope.
	scopes map[string]int
	intern map[string]string
	n      int
}

var _ rbac.RoleManager = (*Index)(nil)

// New returns an empty index.
func New() *Index {
	ix := &Index{}
	ix.reset()
	return ix
}

func (ix *Index) reset() {
	ix.edges = map[string][]string{}
	ix.implies = map[string][]string{}
	ix.impliedBy = map[string][]string{}
	ix.byUser = map[string][]grant{}
	ix.holders = map[string][]string{}
	ix.scopes = map[string]int{}
	ix.intern = map[string]string{}
	ix.n = 0
}

func (ix *Index) in(s string) string {
	if v, ok := ix.intern[s]; ok {
		return v
	}
	s = strings.Clone(s)
	ix.intern[s] = s
	return s
}

// Clear removes every link.
func (ix *Index) Clear() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.reset()
	return nil
}

func domainOf(domain []string) (string, error) {
	if len(domain) != 1 {
		return "", fmt.Errorf("roles: want exactly one domain (scope), got %d", len(domain))
	}
	return domain[0], nil
}

// AddLink adds an assignment (user name1 holds role name2 at scope domain)
// or, in the "*" domain, the inheritance role name1 ⇒ role name2.
func (ix *Index) AddLink(name1, name2 string, domain ...string) error {
	d, err := domainOf(domain)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if d == AnyScope {
		if !slices.Contains(ix.edges[name1], name2) {
			ix.edges[name1] = append(ix.edges[name1], name2)
			ix.closeHierarchy()
		}
		return nil
	}
	ix.add(name1, name2, d)
	return nil
}

func (ix *Index) add(user, role, sc string) bool {
	gs := ix.byUser[user]
	g := grant{scope: sc, role: role}
	i, found := sort.Find(len(gs), func(i int) int { return cmpGrant(g, gs[i]) })
	if found {
		return false
	}
	user, g.scope, g.role = ix.in(user), ix.in(sc), ix.in(role)
	ix.byUser[user] = slices.Insert(gs, i, g)
	k := g.scope + "\x00" + g.role
	ix.holders[k] = append(ix.holders[k], user)
	ix.scopes[g.scope]++
	ix.n++
	return true
}

func cmpGrant(a, b grant) int {
	if c := strings.Compare(a.scope, b.scope); c != 0 {
		return c
	}
	return strings.Compare(a.role, b.role)
}

// closeHierarchy recomputes the transitive closure of the inheritance edges.
func (ix *Index) closeHierarchy() {
	ix.implies = map[string][]string{}
	ix.impliedBy = map[string][]string{}
	var roles []string
	for r, to := range ix.edges {
		roles = append(roles, r)
		roles = append(roles, to...)
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	for _, r := range roles {
		seen := map[string]bool{r: true}
		stack := []string{r}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, y := range ix.edges[x] {
				if !seen[y] {
					seen[y] = true
					stack = append(stack, y)
				}
			}
		}
		for y := range seen {
			ix.implies[r] = append(ix.implies[r], y)
			ix.impliedBy[y] = append(ix.impliedBy[y], r)
		}
	}
	for _, m := range []map[string][]string{ix.implies, ix.impliedBy} {
		for k := range m {
			slices.Sort(m[k])
		}
	}
}

// DeleteLink removes an assignment or an inheritance link.
func (ix *Index) DeleteLink(name1, name2 string, domain ...string) error {
	d, err := domainOf(domain)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if d == AnyScope {
		if i := slices.Index(ix.edges[name1], name2); i >= 0 {
			ix.edges[name1] = slices.Delete(ix.edges[name1], i, i+1)
			ix.closeHierarchy()
		}
		return nil
	}
	ix.remove(name1, name2, d)
	return nil
}

func (ix *Index) remove(user, role, sc string) bool {
	gs := ix.byUser[user]
	g := grant{scope: sc, role: role}
	i, found := sort.Find(len(gs), func(i int) int { return cmpGrant(g, gs[i]) })
	if !found {
		return false
	}
	if len(gs) == 1 {
		delete(ix.byUser, user)
		delete(ix.intern, user) // a later grant interns it again
	} else {
		ix.byUser[user] = slices.Delete(gs, i, i+1)
	}
	k := sc + "\x00" + role
	hs := ix.holders[k]
	if j := slices.Index(hs, user); j >= 0 {
		hs = slices.Delete(hs, j, j+1)
	}
	if len(hs) == 0 {
		delete(ix.holders, k)
	} else {
		ix.holders[k] = hs
	}
	if ix.scopes[sc]--; ix.scopes[sc] <= 0 {
		delete(ix.scopes, sc)
		delete(ix.intern, sc)
	}
	ix.n--
	return true
}

// BuildRelationship is deprecated in Casbin and does nothing.
func (ix *Index) BuildRelationship(string, string, ...string) error { return nil }

// directAt appends to dst the roles user holds directly at sc. Caller holds mu.
func (ix *Index) directAt(dst []string, user, sc string) []string {
	gs := ix.byUser[user]
	i, _ := sort.Find(len(gs), func(i int) int { return strings.Compare(sc, gs[i].scope) })
	for ; i < len(gs) && gs[i].scope == sc; i++ {
		dst = append(dst, gs[i].role)
	}
	return dst
}

// HasLink reports whether user name1 holds role name2 at scope domain,
// directly, through inheritance, or at a containing scope. In the "*"
// domain it reports whether role name1 implies role name2.
func (ix *Index) HasLink(name1, name2 string, domain ...string) (bool, error) {
	d, err := domainOf(domain)
	if err != nil {
		return false, err
	}
	if d == AnyScope {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return name1 == name2 || slices.Contains(ix.implies[name1], name2), nil
	}
	return slices.Contains(ix.Roles(name1, d), name2), nil
}

// Roles returns the roles user holds at sc: assigned there or at a
// containing scope, with implied roles. The result is sorted and unique.
func (ix *Index) Roles(user, sc string) []string {
	var buf [8]string
	ix.mu.RLock()
	direct := ix.directAt(buf[:0], user, sc)
	if p, ok := scope.Parent(sc); ok {
		direct = ix.directAt(direct, user, p)
	}
	out := ix.expand(direct)
	ix.mu.RUnlock()
	return out
}

// expand returns the sorted, unique roles implied by direct. Caller holds mu.
func (ix *Index) expand(direct []string) []string {
	if len(direct) == 0 {
		return nil
	}
	out := make([]string, 0, len(direct)*2)
	for _, r := range direct {
		if imp, ok := ix.implies[r]; ok {
			out = append(out, imp...)
		} else {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DirectRoles returns the roles assigned to user exactly at sc, sorted.
func (ix *Index) DirectRoles(user, sc string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.directAt(nil, user, sc)
}

// HolderCount returns the number of users assigned role directly at sc.
func (ix *Index) HolderCount(role, sc string) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.holders[sc+"\x00"+role])
}

// Scopes returns the scopes at which user is assigned role or a role
// implying it, sorted.
func (ix *Index) Scopes(user, role string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for _, g := range ix.byUser[user] {
		if g.role == role || slices.Contains(ix.implies[g.role], role) {
			if len(out) == 0 || out[len(out)-1] != g.scope {
				out = append(out, g.scope)
			}
		}
	}
	return out
}

// Members returns the users assigned role, or a role implying it, exactly
// at sc, sorted and unique.
func (ix *Index) Members(sc, role string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	by := ix.impliedBy[role]
	if len(by) == 0 {
		by = []string{role}
	}
	var out []string
	for _, r := range by {
		out = append(out, ix.holders[sc+"\x00"+r]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HasUser reports whether user holds any role.
func (ix *Index) HasUser(user string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byUser[user]) > 0
}

// Grants returns the direct assignments of user as (scope, role) pairs.
func (ix *Index) Grants(user string) [][2]string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([][2]string, 0, len(ix.byUser[user]))
	for _, g := range ix.byUser[user] {
		out = append(out, [2]string{g.scope, g.role})
	}
	return out
}

// Len returns the number of assignments.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// Implies returns the roles role implies, itself included.
func (ix *Index) Implies(role string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if imp, ok := ix.implies[role]; ok {
		return slices.Clone(imp)
	}
	return []string{role}
}

// ForEachUser calls fn for every user holding a role, in no order.
func (ix *Index) ForEachUser(fn func(user string)) {
	ix.mu.RLock()
	users := make([]string, 0, len(ix.byUser))
	for u := range ix.byUser {
		users = append(users, u)
	}
	ix.mu.RUnlock()
	for _, u := range users {
		fn(u)
	}
}

// ScopeList returns every scope holding an assignment, in no order.
func (ix *Index) ScopeList() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]string, 0, len(ix.scopes))
	for s := range ix.scopes {
		out = append(out, s)
	}
	return out
}

// GetRoles returns the roles assigned to name directly at the domain.
func (ix *Index) GetRoles(name string, domain ...string) ([]string, error) {
	d, err := domainOf(domain)
	if err != nil {
		return nil, err
	}
	if d == AnyScope {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return slices.Clone(ix.edges[name]), nil
	}
	return ix.DirectRoles(name, d), nil
}

// GetUsers returns the users assigned role name directly at the domain.
func (ix *Index) GetUsers(name string, domain ...string) ([]string, error) {
	d, err := domainOf(domain)
	if err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if d == AnyScope {
		var out []string
		for r, to := range ix.edges {
			if slices.Contains(to, name) {
				out = append(out, r)
			}
		}
		slices.Sort(out)
		return out, nil
	}
	out := slices.Clone(ix.holders[d+"\x00"+name])
	slices.Sort(out)
	return out, nil
}

// GetImplicitRoles returns the roles name holds at the domain with
// inheritance and scope containment.
func (ix *Index) GetImplicitRoles(name string, domain ...string) ([]string, error) {
	d, err := domainOf(domain)
	if err != nil {
		return nil, err
	}
	if d == AnyScope {
		return ix.Implies(name), nil
	}
	return ix.Roles(name, d), nil
}

// GetImplicitUsers returns the users assigned role name, or a role implying
// it, exactly at the domain.
func (ix *Index) GetImplicitUsers(name string, domain ...string) ([]string, error) {
	d, err := domainOf(domain)
	if err != nil {
		return nil, err
	}
	return ix.Members(d, name), nil
}

// GetDomains returns the scopes at which name holds a direct role.
func (ix *Index) GetDomains(name string) ([]string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for _, g := range ix.byUser[name] {
		if len(out) == 0 || out[len(out)-1] != g.scope {
			out = append(out, g.scope)
		}
	}
	return out, nil
}

// GetAllDomains returns every scope holding an assignment.
func (ix *Index) GetAllDomains() ([]string, error) {
	out := ix.ScopeList()
	slices.Sort(out)
	return out, nil
}

// DeleteDomain removes every assignment at the scope.
func (ix *Index) DeleteDomain(domain string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for k, users := range ix.holders {
		sc, role, _ := strings.Cut(k, "\x00")
		if sc != domain {
			continue
		}
		for _, u := range slices.Clone(users) {
			ix.remove(u, role, sc)
		}
	}
	return nil
}

// PrintRoles does nothing: the index can hold millions of links.
func (ix *Index) PrintRoles() error { return nil }

// SetLogger is ignored; Provost logs through slog.
func (ix *Index) SetLogger(log.Logger) {}

// Match reports exact equality: scopes and roles are not patterns.
func (ix *Index) Match(str, pattern string) bool { return str == pattern }

// AddMatchingFunc is ignored: role names are not patterns.
func (ix *Index) AddMatchingFunc(string, rbac.MatchingFunc) {}

// AddDomainMatchingFunc is ignored: scope containment is built in.
func (ix *Index) AddDomainMatchingFunc(string, rbac.MatchingFunc) {}
