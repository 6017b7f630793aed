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
		if !keyPart(id, false) {
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

// ParseKey parses an Open edX course, CCX or library key. It accepts what
// the patterns course-v1:ORG+NUMBER+RUN, ccx-v1:ORG+NUMBER+RUN+ccx@N and
// library-v1:ORG+CODE accept, with ORG made of letters, digits, '_', '.',
// '~' and '-', and the other parts of those and ':'. It is hand-written
// because it runs on the decision path.
func ParseKey(k string) (Key, error) {
	var key Key
	var rest string
	switch {
	case strings.HasPrefix(k, "course-v1:"):
		key.Kind, rest = KeyCourse, k[len("course-v1:"):]
	case strings.HasPrefix(k, "ccx-v1:"):
		key.Kind, rest = KeyCCX, k[len("ccx-v1:"):]
	case strings.HasPrefix(k, "library-v1:"):
		key.Kind, rest = KeyLibrary, k[len("library-v1:"):]
	}
	parts := strings.Split(rest, "+")
	ok := key.Kind != "" && len(parts) >= 2 && keyPart(parts[0], false)
	switch key.Kind {
	case KeyCourse:
		ok = ok && len(parts) == 3 && keyPart(parts[1], true) && keyPart(parts[2], true)
	case KeyCCX:
		n, isCCX := strings.CutPrefix(parts[len(parts)-1], "ccx@")
		ok = ok && len(parts) == 4 && keyPart(parts[1], true) && keyPart(parts[2], true) && isCCX && digits(n)
		if ok {
			key.CCX = n
		}
	case KeyLibrary:
		ok = ok && len(parts) == 2 && keyPart(parts[1], true)
	}
	if !ok {
		return Key{}, fmt.Errorf("%w: %q: want course-v1:ORG+NUMBER+RUN, ccx-v1:ORG+NUMBER+RUN+ccx@N or library-v1:ORG+CODE", ErrBadKey, k)
	}
	key.Org, key.Number = parts[0], parts[1]
	if key.Kind != KeyLibrary {
		key.Run = parts[2]
	}
	return key, nil
}

// keyPart reports whether s is a non-empty key part: letters, digits, '_',
// '.', '~', '-' and, when colon is true, ':'.
func keyPart(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
		case r == '_' || r == '.' || r == '~' || r == '-':
		case r == ':' && colon:
		case r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r)):
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
