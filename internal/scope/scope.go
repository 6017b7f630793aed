// Package scope parses role-assignment scopes and Open edX keys.
//
// Scopes are strings: "global", "org:<org>", "course:<course key>",
// "library:<library key>", "cohort:<cohort id>". Course keys follow Open
// edX: course-v1:ORG+NUMBER+RUN, CCX keys ccx-v1:ORG+NUMBER+RUN+ccx@N,
// library keys library-v1:ORG+CODE.
package scope

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of scope.
const (
	Global  = "global"
	Org     = "org"
	Course  = "course"
	Library = "library"
	Cohort  = "cohort"
)

// ErrBadScope is wrapped by every scope parsing error.
var ErrBadScope = errors.New("bad scope")

// ErrBadKey is wrapped by every course or library key parsing error.
var ErrBadKey = errors.New("malformed course key")

// Scope is a parsed scope.
type Scope struct {
	Kind string // global, org, course, library, cohort
	ID   string // "" for global; the org, key or cohort id otherwise
}

// String returns the scope in its canonical string form.
func (s Scope) String() string {
	if s.Kind == Global {
		return Global
	}
	return s.Kind + ":" + s.ID
}

// MaxIDLen bounds the length of any id in a scope.
const MaxIDLen = 512

var orgRe = regexp.MustCompile(`^[\pL\pN_.~-]+$`)

// Parse parses a scope string. Course scopes must hold a valid course or
// CCX key only when strict is requested by the pack; Parse accepts any
// non-empty opaque course id, because Oppia course ids are opaque.
func Parse(s string) (Scope, error) {
	if s == Global {
		return Scope{Kind: Global}, nil
	}
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q: want global, org:<org>, course:<key>, library:<key> or cohort:<id>", ErrBadScope, s)
	}
	if err := checkID(id); err != nil {
		return Scope{}, fmt.Errorf("%w: %q: %v", ErrBadScope, s, err)
	}
	switch kind {
	case Org:
		if !orgRe.MatchString(id) {
			return Scope{}, fmt.Errorf("%w: %q: an org is letters, digits, '_', '.', '~' or '-'", ErrBadScope, s)
		}
	case Library:
		if k, err := ParseKey(id); err != nil || k.Kind != KeyLibrary {
			return Scope{}, fmt.Errorf("%w: %q: want library:library-v1:ORG+CODE", ErrBadScope, s)
		}
	case Course, Cohort:
	default:
		return Scope{}, fmt.Errorf("%w: %q: unknown scope kind %q", ErrBadScope, s, kind)
	}
	return Scope{Kind: kind, ID: id}, nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > MaxIDLen:
		return fmt.Errorf("id longer than %d bytes", MaxIDLen)
	case !utf8.ValidString(id):
		return errors.New("id is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return errors.New("id contains a space or control character")
		}
	}
	return nil
}

// Kind returns the kind of a scope string without validating it: the part
// before the first ':' or "global".
func Kind(s string) string {
	if k, _, ok := strings.Cut(s, ":"); ok {
		return k
	}
	return s
}

// Parent returns the scope containing s, if any: the org scope of a course,
// CCX or library scope whose id is an Open edX key.
func Parent(s string) (string, bool) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || (kind != Course && kind != Library) {
		return "", false
	}
	org, ok := keyOrg(id)
	if !ok {
		return "", false
	}
	return Org + ":" + org, true
}

// Key kinds.
const (
	KeyCourse  = "course"
	KeyCCX     = "ccx"
	KeyLibrary = "library"
)

// Key is a parsed Open edX course, CCX or library key.
type Key struct {
	Kind   string // course, ccx, library
	Org    string
	Number string // course number or library code
	Run    string
	CCX    string
}

var (
	courseRe  = regexp.MustCompile(`^course-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)$`)
	ccxRe     = regexp.MustCompile(`^ccx-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)\+ccx@([0-9]+)$`)
	libraryRe = regexp.MustCompile(`^library-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)$`)
)

// ParseKey parses an Open edX course, CCX or library key.
func ParseKey(k string) (Key, error) {
	switch {
	case strings.HasPrefix(k, "course-v1:"):
		if m := courseRe.FindStringSubmatch(k); m != nil {
			return Key{Kind: KeyCourse, Org: m[1], Number: m[2], Run: m[3]}, nil
		}
	case strings.HasPrefix(k, "ccx-v1:"):
		if m := ccxRe.FindStringSubmatch(k); m != nil {
			return Key{Kind: KeyCCX, Org: m[1], Number: m[2], Run: m[3], CCX: m[4]}, nil
		}
	case strings.HasPrefix(k, "library-v1:"):
		if m := libraryRe.FindStringSubmatch(k); m != nil {
			return Key{Kind: KeyLibrary, Org: m[1], Number: m[2]}, nil
		}
	}
	return Key{}, fmt.Errorf("%w: %q: want course-v1:ORG+NUMBER+RUN, ccx-v1:ORG+NUMBER+RUN+ccx@N or library-v1:ORG+CODE", ErrBadKey, k)
}

// keyOrg returns the org of a key quickly, without the full regexp, when
// the key is well formed.
func keyOrg(k string) (string, bool) {
	key, err := ParseKey(k)
	if err != nil {
		return "", false
	}
	return key.Org, true
}
