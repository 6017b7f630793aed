package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/provost-lms/provost/internal/scope"
)

// DefaultPageSize is the page size of searches without page.limit.
const DefaultPageSize = 50

// MaxPageSize bounds page.limit.
const MaxPageSize = 1000

// Page selects a page of search results.
type Page struct {
	Token string `json:"token,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// SearchResult is a page of ids (or action names) and the token of the next
// page, "" when there is none.
type SearchResult struct {
	IDs       []string
	NextToken string
}

// ErrBadPageToken is returned for a page token this engine did not issue.
var ErrBadPageToken = errors.New("bad page token")

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || b[0] != 'p' {
		return "", fmt.Errorf("%w: %q", ErrBadPageToken, tok)
	}
	return string(b[1:]), nil
}

func encodeToken(after string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{'p'}, after...))
}

// SearchResources returns the known resources of req.Resource.Type on which
// req.Subject may do req.Action, sorted by id, a page at a time.
func (e *Engine) SearchResources(ctx context.Context, req *Request, page Page) (SearchResult, error) {
	if err := validate(req, true, false); err != nil {
		return SearchResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rev := e.rev.Load()
	cands, all, err := e.candidates(ctx, rev.resCand, req)
	if err != nil {
		return SearchResult{}, err
	}
	var known []string
	if req.Resource.Type == SubjectUser {
		known = e.KnownUsers()
	} else {
		known = e.KnownResources(req.Resource.Type)
	}
	if !all {
		known = intersectSorted(known, cands)
	}
	return e.pageOf(known, page, func(id string) bool {
		r := *req
		r.Resource.ID = id
		return e.decide(ctx, &r).Allow
	})
}

// SearchSubjects returns the known users who may do req.Action on
// req.Resource, sorted by id, a page at a time.
func (e *Engine) SearchSubjects(ctx context.Context, req *Request, page Page) (SearchResult, error) {
	if err := validate(req, false, true); err != nil {
		return SearchResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rev := e.rev.Load()
	cands, all, err := e.candidates(ctx, rev.subjCand, req)
	if err != nil {
		return SearchResult{}, err
	}
	known := e.KnownUsers()
	if !all {
		known = intersectSorted(known, cands)
	}
	return e.pageOf(known, page, func(id string) bool {
		r := *req
		r.Subject.ID = id
		return e.decide(ctx, &r).Allow
	})
}

// SearchActions returns the pack's actions on req.Resource's type that
// req.Subject may do, sorted by name, a page at a time.
func (e *Engine) SearchActions(ctx context.Context, req *Request, page Page) (SearchResult, error) {
	r := *req
	r.Action.Name = "*"
	if err := validate(&r, true, true); err != nil {
		return SearchResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	actions := e.rev.Load().actions[req.Resource.Type]
	return e.pageOf(actions, page, func(name string) bool {
		r.Action.Name = name
		return e.decide(ctx, &r).Allow
	})
}

// candidates evaluates a pack's candidate rule. all is true when the rule
// is undefined (every known entity is a candidate).
func (e *Engine) candidates(ctx context.Context, q rego.PreparedEvalQuery, req *Request) ([]string, bool, error) {
	rs, err := q.Eval(ctx, rego.EvalParsedInput(e.input(req, req.Resource.ID != "")))
	if err != nil {
		return nil, false, fmt.Errorf("search candidates: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, true, nil
	}
	return sortedStrings(rs[0].Expressions[0].Value), false, nil
}

func (e *Engine) pageOf(sorted []string, page Page, allowed func(string) bool) (SearchResult, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return SearchResult{}, err
	}
	limit := page.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	i := 0
	if after != "" {
		i, _ = slices.BinarySearch(sorted, after)
		if i < len(sorted) && sorted[i] == after {
			i++
		}
	}
	res := SearchResult{IDs: []string{}}
	for ; i < len(sorted); i++ {
		if !allowed(sorted[i]) {
			continue
		}
		if len(res.IDs) == limit {
			res.NextToken = encodeToken(res.IDs[len(res.IDs)-1])
			break
		}
		res.IDs = append(res.IDs, sorted[i])
	}
	return res, nil
}

func intersectSorted(a, b []string) []string {
	out := make([]string, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			out = append(out, a[i])
			i++
			j++
		case c < 0:
			i++
		default:
			j++
		}
	}
	return out
}

// KnownUsers returns the users written to the store or holding a role, sorted.
func (e *Engine) KnownUsers() []string {
	ids := e.catalog.UserIDs()
	e.index.ForEachUser(func(u string) { ids = append(ids, u) })
	slices.Sort(ids)
	return slices.Compact(ids)
}

// KnownResources returns the known resources of a type, sorted: registered
// resources; orgs, courses, libraries and cohorts named in an assignment's
// scope; and the org of any known course or library.
func (e *Engine) KnownResources(typ string) []string {
	ids := e.catalog.ResourceIDs(typ)
	switch typ {
	case scope.Org:
		for _, k := range []string{scope.Course, scope.Library} {
			for _, id := range e.catalog.ResourceIDs(k) {
				if p, ok := scope.Parent(k + ":" + id); ok {
					ids = append(ids, strings.TrimPrefix(p, "org:"))
				}
			}
		}
		for _, s := range e.index.ScopeList() {
			if kind, id, _ := strings.Cut(s, ":"); kind == scope.Org {
				ids = append(ids, id)
			} else if p, ok := scope.Parent(s); ok {
				ids = append(ids, strings.TrimPrefix(p, "org:"))
			}
		}
	case scope.Course, scope.Library, scope.Cohort:
		for _, s := range e.index.ScopeList() {
			if kind, id, _ := strings.Cut(s, ":"); kind == typ {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
