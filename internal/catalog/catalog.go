// Package catalog is the in-memory copy of the store's users and resources
// that the decision path reads: stored user properties and registered
// resource properties, already converted to Rego values, with small indexes
// for searches. It is filled from the store at start-up and updated after
// each committed write; it never reads disk.
package catalog

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/provost-lms/provost/internal/store"
)

// Catalog holds users and resources.
type Catalog struct {
	mu        sync.RWMutex
	users     map[string]*userEntry
	resources map[string]map[string]*resourceEntry // type → id →
	// byProp indexes scalar resource properties: type\x00prop\x00json(value) → ids.
	byProp map[string]map[string]struct{}
	// userFlags indexes boolean user properties: prop\x00json(value) → ids.
	userFlags map[string]map[string]struct{}
}

type userEntry struct {
	user  store.User
	props ast.Object
}

type resourceEntry struct {
	res   store.Resource
	props ast.Object
}

// New returns an empty catalog.
func New() *Catalog {
	return &Catalog{
		users:     map[string]*userEntry{},
		resources: map[string]map[string]*resourceEntry{},
		byProp:    map[string]map[string]struct{}{},
		userFlags: map[string]map[string]struct{}{},
	}
}

// UserProperties returns the properties of a stored user as the policy
// sees them: email, username, is_active, is_staff, is_superuser, language
// and the attributes merged flat. ok is false for a user never written.
func UserProperties(u store.User) map[string]any {
	m := make(map[string]any, 6+len(u.Attributes))
	for k, v := range u.Attributes {
		m[k] = v
	}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if u.Username != "" {
		m["username"] = u.Username
	}
	if u.Language != "" {
		m["language"] = u.Language
	}
	m["is_active"] = u.IsActive
	m["is_staff"] = u.IsStaff
	m["is_superuser"] = u.IsSuperuser
	return m
}

func toObject(m map[string]any) ast.Object {
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		return ast.NewObject()
	}
	if o, ok := v.(ast.Object); ok {
		return o
	}
	return ast.NewObject()
}

func valueKey(v any) (string, bool) {
	switch v.(type) {
	case string, bool, float64, int, int64, json.Number:
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	return "", false
}

// PutUser stores or replaces a user.
func (c *Catalog) PutUser(u store.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteUser(u.ID)
	c.users[u.ID] = &userEntry{user: u, props: toObject(UserProperties(u))}
	for _, f := range []struct {
		k string
		v bool
	}{{"is_staff", u.IsStaff}, {"is_superuser", u.IsSuperuser}, {"is_active", u.IsActive}} {
		k, _ := valueKey(f.v)
		addTo(c.userFlags, f.k+"\x00"+k, u.ID)
	}
}

// DeleteUser removes a user.
func (c *Catalog) DeleteUser(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteUser(id)
}

func (c *Catalog) deleteUser(id string) {
	old, ok := c.users[id]
	if !ok {
		return
	}
	delete(c.users, id)
	for _, f := range []struct {
		k string
		v bool
	}{{"is_staff", old.user.IsStaff}, {"is_superuser", old.user.IsSuperuser}, {"is_active", old.user.IsActive}} {
		k, _ := valueKey(f.v)
		removeFrom(c.userFlags, f.k+"\x00"+k, id)
	}
}

func addTo(m map[string]map[string]struct{}, k, id string) {
	s := m[k]
	if s == nil {
		s = map[string]struct{}{}
		m[k] = s
	}
	s[id] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, k, id string) {
	if s := m[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// User returns a stored user and its properties as a Rego object.
func (c *Catalog) User(id string) (store.User, ast.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.users[id]
	if !ok {
		return store.User{}, nil, false
	}
	return e.user, e.props, true
}

// HasUser reports whether the user was written.
func (c *Catalog) HasUser(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.users[id]
	return ok
}

// UserIDs returns the ids of every stored user, unsorted.
func (c *Catalog) UserIDs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.users))
	for id := range c.users {
		out = append(out, id)
	}
	return out
}

// UsersWhere returns the users whose property prop equals value, sorted.
// Boolean is_staff, is_superuser and is_active are indexed; other
// properties are found by a scan.
func (c *Catalog) UsersWhere(prop string, value any) []string {
	k, ok := valueKey(value)
	if !ok {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	switch prop {
	case "is_staff", "is_superuser", "is_active":
		for id := range c.userFlags[prop+"\x00"+k] {
			out = append(out, id)
		}
	default:
		for id, e := range c.users {
			if v, ok := UserProperties(e.user)[prop]; ok {
				if vk, ok := valueKey(v); ok && vk == k {
					out = append(out, id)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// PutResource stores or replaces a resource.
func (c *Catalog) PutResource(r store.Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteResource(r.Type, r.ID)
	byID := c.resources[r.Type]
	if byID == nil {
		byID = map[string]*resourceEntry{}
		c.resources[r.Type] = byID
	}
	props := r.Properties
	if props == nil {
		props = map[string]any{}
	}
	byID[r.ID] = &resourceEntry{res: r, props: toObject(props)}
	for p, v := range props {
		if k, ok := valueKey(v); ok {
			addTo(c.byProp, r.Type+"\x00"+p+"\x00"+k, r.ID)
		}
	}
}

// DeleteResource removes a resource.
func (c *Catalog) DeleteResource(typ, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteResource(typ, id)
}

func (c *Catalog) deleteResource(typ, id string) {
	old, ok := c.resources[typ][id]
	if !ok {
		return
	}
	delete(c.resources[typ], id)
	for p, v := range old.res.Properties {
		if k, ok := valueKey(v); ok {
			removeFrom(c.byProp, typ+"\x00"+p+"\x00"+k, id)
		}
	}
}

// Resource returns a registered resource's properties as a Rego object.
func (c *Catalog) Resource(typ, id string) (ast.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.resources[typ][id]
	if !ok {
		return nil, false
	}
	return e.props, true
}

// ResourceIDs returns the ids of registered resources of a type, unsorted.
func (c *Catalog) ResourceIDs(typ string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.resources[typ]))
	for id := range c.resources[typ] {
		out = append(out, id)
	}
	return out
}

// ResourcesWhere returns the ids of registered resources of typ whose
// scalar property prop equals value, sorted.
func (c *Catalog) ResourcesWhere(typ, prop string, value any) []string {
	k, ok := valueKey(value)
	if !ok {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for id := range c.byProp[typ+"\x00"+prop+"\x00"+k] {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Counts returns the number of users and resources.
func (c *Catalog) Counts() (users, resources int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.resources {
		resources += len(m)
	}
	return len(c.users), resources
}
