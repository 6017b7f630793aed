package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is an AuthZEN action.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Request is one AuthZEN evaluation.
type Request struct {
	Subject  Entity         `json:"subject"`
	Action   Action         `json:"action"`
	Resource Entity         `json:"resource"`
	Context  map[string]any `json:"context,omitempty"`
}

// Decision is the answer to a Request. Allow is false on every error.
type Decision struct {
	ID       string
	Allow    bool
	Reason   string
	Error    string
	Revision string
}

// MaxIDLen bounds subject, resource and action identifiers.
const MaxIDLen = 1024

// SubjectUser is the only subject type the packs know.
const SubjectUser = "user"

func checkField(what, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s is missing or empty", what)
	case len(v) > MaxIDLen:
		return fmt.Errorf("%s is longer than %d bytes", what, MaxIDLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte", what)
	}
	return nil
}

var boolProps = []string{"is_active", "is_staff", "is_superuser"}

// validate checks a request before evaluation. needSubjectID and
// needResourceID are false for subject and resource searches.
func validate(r *Request, needSubjectID, needResourceID bool) error {
	checks := []struct {
		what     string
		v        string
		required bool
	}{
		{"subject.type", r.Subject.Type, true},
		{"subject.id", r.Subject.ID, needSubjectID},
		{"action.name", r.Action.Name, true},
		{"resource.type", r.Resource.Type, true},
		{"resource.id", r.Resource.ID, needResourceID},
	}
	for _, c := range checks {
		if err := checkField(c.what, c.v, c.required); err != nil {
			return err
		}
	}
	if r.Subject.Type != SubjectUser {
		return fmt.Errorf("subject type %q is not user, the only subject type of the packs", r.Subject.Type)
	}
	for _, k := range boolProps {
		if v, ok := r.Subject.Properties[k]; ok {
			if _, isBool := v.(bool); !isBool {
				return fmt.Errorf("subject.properties.%s must be a boolean, got %T", k, v)
			}
		}
	}
	return nil
}
