// Package store defines Provost's durable data: users, role assignments,
// resources, course-creator states and the audit log. Interfaces are split
// by role (readers, one writer) so that every backend can pass the shared
// suite in storetest. Writes are whole Changes applied in one transaction
// and committed before Apply returns.
package store

import (
	"context"
	"errors"
	"time"
)

// SchemaVersion is the version of the on-disk layout written by this build.
const SchemaVersion = 1

var (
	// ErrNotFound is returned when a user, resource or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("store closed")
	// ErrSchema is returned when a data file was written by an incompatible version.
	ErrSchema = errors.New("incompatible store schema")
	// ErrLocked is returned when another process holds the store open.
	ErrLocked = errors.New("store is locked by another process")
)

// User is a stored user. A user never written is active with no attributes.
type User struct {
	ID          string         `json:"id"`
	Email       string         `json:"email,omitempty"`
	Username    string         `json:"username,omitempty"`
	IsActive    bool           `json:"is_active"`
	IsStaff     bool           `json:"is_staff"`
	IsSuperuser bool           `json:"is_superuser"`
	Language    string         `json:"language,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// Assignment is one (user, role, scope) triple.
type Assignment struct {
	User  string `json:"user"`
	Role  string `json:"role"`
	Scope string `json:"scope"`
}

// Resource is a registered resource with its properties.
type Resource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
}

// CreatorState is the stored course-creator request state of a user. Only
// "unrequested", "pending" and "denied" are stored; "granted" is read from
// the course_creator roles.
type CreatorState struct {
	User  string `json:"user"`
	State string `json:"state"`
}

// AuditEntry records one management change.
type AuditEntry struct {
	Seq     uint64         `json:"-"`
	Time    time.Time      `json:"time"`
	Caller  string         `json:"caller"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Details map[string]any `json:"details,omitempty"`
}

// Change is one logical write. Apply commits all of it or none of it.
// Within a Change, deletions are applied before puts, and revokes before
// grants. Deleting a user also deletes the user's assignments and creator
// state.
type Change struct {
	PutUsers        []User
	DeleteUsers     []string
	Revoke          []Assignment
	Grant           []Assignment
	PutResources    []Resource
	DeleteResources []ResourceKey
	CreatorStates   []CreatorState // State "" deletes the stored state
	Audit           []AuditEntry
}

// ResourceKey names a resource.
type ResourceKey struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Empty reports whether the change writes nothing.
func (c *Change) Empty() bool {
	return len(c.PutUsers)+len(c.DeleteUsers)+len(c.Revoke)+len(c.Grant)+
		len(c.PutResources)+len(c.DeleteResources)+len(c.CreatorStates)+len(c.Audit) == 0
}

// AssignmentFilter selects assignments; empty fields match everything.
type AssignmentFilter struct {
	User  string
	Role  string
	Scope string
}

// Match reports whether a matches the filter.
func (f AssignmentFilter) Match(a Assignment) bool {
	return (f.User == "" || f.User == a.User) && (f.Role == "" || f.Role == a.Role) && (f.Scope == "" || f.Scope == a.Scope)
}

// UserReader reads users.
type UserReader interface {
	GetUser(ctx context.Context, id string) (User, error)
	// ForEachUser calls fn for every user in id order until fn returns an error.
	ForEachUser(ctx context.Context, fn func(User) error) error
}

// AssignmentReader reads role assignments.
type AssignmentReader interface {
	// ForEachAssignment calls fn for every assignment matching f, ordered by
	// (user, scope, role), until fn returns an error.
	ForEachAssignment(ctx context.Context, f AssignmentFilter, fn func(Assignment) error) error
}

// ResourceReader reads registered resources.
type ResourceReader interface {
	GetResource(ctx context.Context, typ, id string) (Resource, error)
	ForEachResource(ctx context.Context, fn func(Resource) error) error
}

// CreatorReader reads stored course-creator states.
type CreatorReader interface {
	// GetCreatorState returns ErrNotFound when no state is stored.
	GetCreatorState(ctx context.Context, user string) (CreatorState, error)
}

// AuditReader lists the audit log.
type AuditReader interface {
	// ListAudit returns entries strictly after since, oldest first, at most limit.
	ListAudit(ctx context.Context, since time.Time, limit int) ([]AuditEntry, error)
}

// Writer applies logical changes atomically and durably.
type Writer interface {
	Apply(ctx context.Context, c Change) error
}

// Store is everything a backend provides.
type Store interface {
	UserReader
	AssignmentReader
	ResourceReader
	CreatorReader
	AuditReader
	Writer
	// Stats returns counts for status pages.
	Stats(ctx context.Context) (Stats, error)
	Close() error
}

// Stats are the sizes of a store.
type Stats struct {
	Users       int   `json:"users"`
	Assignments int   `json:"assignments"`
	Resources   int   `json:"resources"`
	AuditLength int   `json:"audit_entries"`
	FileBytes   int64 `json:"file_bytes,omitempty"`
}
