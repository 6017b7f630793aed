package scope

import (
	"errors"
	"regexp"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"global", Scope{Kind: Global}, false},
		{"org:Marvel", Scope{Org, "Marvel"}, false},
		{"course:course-v1:Marvel+CS101+2026", Scope{Course, "course-v1:Marvel+CS101+2026"}, false},
		{"course:ccx-v1:Marvel+CS101+2026+ccx@3", Scope{Course, "ccx-v1:Marvel+CS101+2026+ccx@3"}, false},
		{"course:opaque-oppia-id", Scope{Course, "opaque-oppia-id"}, false},
		{"library:library-v1:DC+lib1", Scope{Library, "library-v1:DC+lib1"}, false},
		{"cohort:7", Scope{Cohort, "7"}, false},
		{"org:", Scope{}, true},
		{"org:Mar vel", Scope{}, true},
		{"org:a+b", Scope{}, true},
		{"library:course-v1:A+B+C", Scope{}, true},
		{"planet:earth", Scope{}, true},
		{"Marvel", Scope{}, true},
		{"course:\x00", Scope{}, true},
		{"cohort:\xff", Scope{}, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadScope) {
			t.Errorf("Parse(%q) error %v does not wrap ErrBadScope", tt.in, err)
		}
		if err == nil && (got != tt.want || got.String() != tt.in) {
			t.Errorf("Parse(%q) = %+v (%s), want %+v", tt.in, got, got.String(), tt.want)
		}
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in   string
		kind string
		org  string
	}{
		{"course-v1:Marvel+CS101+2026", KeyCourse, "Marvel"},
		{"course-v1:Marvel+CS101+2026_T1:x", KeyCourse, "Marvel"},
		{"ccx-v1:Marvel+CS101+2026+ccx@12", KeyCCX, "Marvel"},
		{"library-v1:DC+heroes", KeyLibrary, "DC"},
		{"course-v1:Marvel+CS101", "", ""},
		{"course-v1:Marvel+CS101+2026+extra", "", ""},
		{"ccx-v1:Marvel+CS101+2026+ccx@x", "", ""},
		{"Marvel/CS101/2026", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		if tt.kind == "" {
			if err == nil || !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseKey(%q) = %+v, %v; want ErrBadKey", tt.in, k, err)
			}
			continue
		}
		if err != nil || k.Kind != tt.kind || k.Org != tt.org {
			t.Errorf("ParseKey(%q) = %+v, %v; want kind %s org %s", tt.in, k, err, tt.kind, tt.org)
		}
	}
}

func TestParent(t *testing.T) {
	tests := map[string]string{
		"course:course-v1:Marvel+CS101+2026": "org:Marvel",
		"course:ccx-v1:DC+X+Y+ccx@1":         "org:DC",
		"library:library-v1:DC+heroes":       "org:DC",
		"course:opaque":                      "",
		"org:Marvel":                         "",
		"cohort:course-v1:Marvel+CS101+2026": "",
		"global":                             "",
	}
	for in, want := range tests {
		got, ok := Parent(in)
		if got != want || ok != (want != "") {
			t.Errorf("Parent(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// The regular expressions ParseKey replaced, kept as its oracle.
var (
	courseRe  = regexp.MustCompile(`^course-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)$`)
	ccxRe     = regexp.MustCompile(`^ccx-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)\+ccx@([0-9]+)$`)
	libraryRe = regexp.MustCompile(`^library-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)$`)
)

func oracle(k string) (Key, bool) {
	if m := courseRe.FindStringSubmatch(k); m != nil {
		return Key{Kind: KeyCourse, Org: m[1], Number: m[2], Run: m[3]}, true
	}
	if m := ccxRe.FindStringSubmatch(k); m != nil {
		return Key{Kind: KeyCCX, Org: m[1], Number: m[2], Run: m[3], CCX: m[4]}, true
	}
	if m := libraryRe.FindStringSubmatch(k); m != nil {
		return Key{Kind: KeyLibrary, Org: m[1], Number: m[2]}, true
	}
	return Key{}, false
}

// FuzzParseKey checks the hand-written parser against the patterns of the
// hooks.rego reference.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"course-v1:Marvel+CS101+2026", "ccx-v1:A+B+C+ccx@12", "library-v1:DC+x", "course-v1:é+1+2",
		"course-v1:A+B", "ccx-v1:A+B+C+ccx@", "library-v1:A:B+c", "course-v1:A+B:C+D:E", "course-v1:+B+C", "course-v1:A+B+C\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		want, wantOK := oracle(k)
		got, err := ParseKey(k)
		if (err == nil) != wantOK || got != want {
			t.Fatalf("ParseKey(%q) = %+v, %v; the patterns say %+v, %v", k, got, err, want, wantOK)
		}
	})
}
