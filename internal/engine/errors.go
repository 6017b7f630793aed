package engine

import "errors"

// Errors of management writes. The HTTP layer maps each to a status and a
// code in one place.
var (
	// ErrInvalid: bad input (unknown role for a scope, bad scope, bad key).
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the caller lacks authority for the change.
	ErrForbidden = errors.New("forbidden")
	// ErrLastInstructor: the change would remove a course's last direct instructor.
	ErrLastInstructor = errors.New("last_instructor")
	// ErrInactiveUser: the target user is inactive.
	ErrInactiveUser = errors.New("inactive_user")
	// ErrNotFound: no such user or resource.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change conflicts with the current state.
	ErrConflict = errors.New("conflict")
)
