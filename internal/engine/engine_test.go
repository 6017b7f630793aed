package engine_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/fixtures"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// policyDir is the repository root: model.conf, policies/, rego/.
var policyDir = filepath.Join("..", "..")

// openStore opens a real bbolt store in a temporary directory.
func openStore(t testing.TB) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed writes fixture data to the store in one change.
func seed(t testing.TB, st store.Store, d fixtures.Data) {
	t.Helper()
	var c store.Change
	for _, u := range d.Users {
		c.PutUsers = append(c.PutUsers, store.User{ID: u.ID, Email: u.Email, Username: u.Username, IsActive: u.Active(),
			IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser, Language: u.Language, Attributes: u.Attributes})
	}
	for _, a := range d.Assignments {
		c.Grant = append(c.Grant, store.Assignment{User: a.User, Role: a.Role, Scope: a.Scope})
	}
	for _, r := range d.Resources {
		c.PutResources = append(c.PutResources, store.Resource{Type: r.Type, ID: r.ID, Properties: r.Properties})
	}
	if err := st.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func openEngine(t testing.TB, st store.Store, packName string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), engine.Options{Store: st, PolicyDir: policyDir, Pack: packName})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// request converts a fixture request (YAML data) to an engine request the
// way the HTTP layer decodes JSON.
func request(t testing.TB, m map[string]any) *engine.Request {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var r engine.Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func fixtureFiles(t *testing.T) []*fixtures.File {
	paths, _ := filepath.Glob(filepath.Join(policyDir, "testdata", "fixtures", "*.yaml"))
	if len(paths) == 0 {
		t.Fatal("no fixture files in testdata/fixtures")
	}
	var out []*fixtures.File
	for _, p := range paths {
		f, err := fixtures.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestFixtures runs every decision fixture against the engine over a real
// bbolt store, and checks every search against its expected results and
// against single evaluations over every known entity.
func TestFixtures(t *testing.T) {
	ctx := context.Background()
	for _, f := range fixtureFiles(t) {
		st := openStore(t)
		seed(t, st, f.Data)
		e := openEngine(t, st, f.Pack)
		for _, s := range f.Suites {
			t.Run(f.Pack+"/"+s.Name, func(t *testing.T) {
				if err := e.SetSettings(ctx, s.Settings); err != nil {
					t.Fatal(err)
				}
				for _, c := range s.Cases {
					d := e.Decide(ctx, request(t, c.Request))
					if d.Allow != c.Decision {
						t.Errorf("%s: decision %v (%s), want %v", c.Name, d.Allow, d.Reason, c.Decision)
					}
					if c.ReasonContains != "" && !strings.Contains(d.Reason, c.ReasonContains) {
						t.Errorf("%s: reason %q does not contain %q", c.Name, d.Reason, c.ReasonContains)
					}
					if d.Error != "" {
						t.Errorf("%s: evaluation error %s", c.Name, d.Error)
					}
				}
				for _, q := range s.Searches {
					got := search(t, e, q)
					if want := fixtures.ResultIDs(q); !slices.Equal(got, want) {
						t.Errorf("search %s: got %v, want %v", q.Name, got, want)
					}
					if brute := bruteForce(t, e, q); !slices.Equal(got, brute) {
						t.Errorf("search %s: got %v, single evaluations allow %v", q.Name, got, brute)
					}
				}
			})
		}
	}
}

// search runs a fixture search through every page (page size 2, so that
// paging is exercised).
func search(t *testing.T, e *engine.Engine, q fixtures.Search) []string {
	t.Helper()
	ctx := context.Background()
	req := request(t, q.Request)
	out := []string{}
	page := engine.Page{Limit: 2}
	for range 10000 {
		var res engine.SearchResult
		var err error
		switch q.Kind {
		case "subject":
			res, err = e.SearchSubjects(ctx, req, page)
		case "resource":
			res, err = e.SearchResources(ctx, req, page)
		case "action":
			res, err = e.SearchActions(ctx, req, page)
		}
		if err != nil {
			t.Fatalf("search %s: %v", q.Name, err)
		}
		out = append(out, res.IDs...)
		if res.NextToken == "" {
			return out
		}
		page.Token = res.NextToken
	}
	t.Fatalf("search %s: paging does not end", q.Name)
	return nil
}

// bruteForce answers a search with single evaluations over every known
// entity of the asked type (every pack action for action searches).
func bruteForce(t *testing.T, e *engine.Engine, q fixtures.Search) []string {
	ctx := context.Background()
	req := request(t, q.Request)
	var cands []string
	switch q.Kind {
	case "subject":
		cands = e.KnownUsers()
	case "resource":
		if req.Resource.Type == "user" {
			cands = e.KnownUsers()
		} else {
			cands = e.KnownResources(req.Resource.Type)
		}
	case "action":
		cands = e.Actions(req.Resource.Type)
	}
	out := []string{}
	for _, c := range cands {
		r := *req
		switch q.Kind {
		case "subject":
			r.Subject.ID = c
		case "resource":
			r.Resource.ID = c
		case "action":
			r.Action.Name = c
		}
		if e.Decide(ctx, &r).Allow {
			out = append(out, c)
		}
	}
	return out
}
