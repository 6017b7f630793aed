package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/provost-lms/provost/internal/store"
)

// errPageFull stops a store scan once a page is full.
var errPageFull = errors.New("page full")

// ListAssignments returns the stored assignments matching f, ordered by
// (user, scope, role), a page at a time: at most page.Limit (DefaultPageSize
// when 0, at most MaxPageSize) and the token of the next page, "" when
// there is none. A token this engine did not issue is ErrBadPageToken.
func (e *Engine) ListAssignments(ctx context.Context, f store.AssignmentFilter, page Page) ([]store.Assignment, string, error) {
	after, err := decodeAssignmentToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	limit := page.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	out := []store.Assignment{}
	next := ""
	err = e.store.ForEachAssignment(ctx, f, func(a store.Assignment) error {
		if after != "" && assignmentKey(a) <= after {
			return nil
		}
		if len(out) == limit {
			next = encodeAssignmentToken(out[len(out)-1])
			return errPageFull
		}
		out = append(out, a)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, "", err
	}
	return out, next, nil
}

// assignmentKey orders assignments as the store does: (user, scope, role).
func assignmentKey(a store.Assignment) string {
	return a.User + "\x00" + a.Scope + "\x00" + a.Role
}

func encodeAssignmentToken(a store.Assignment) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a" + assignmentKey(a)))
}

func decodeAssignmentToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'a' || strings.Count(string(b), "\x00") != 2 {
		return "", fmt.Errorf("%w: %q", ErrBadPageToken, tok)
	}
	return string(b[1:]), nil
}
