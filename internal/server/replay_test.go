package server_test

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/fixtures"
	"github.com/provost-lms/provost/internal/store"
)

// seedFixture writes a fixture file's data through the engine: the
// assignments first, unvalidated as the store seeding of the engine tests
// (some grant roles to users the data then marks inactive), then the users
// and the resources.
func seedFixture(t testing.TB, d fixtures.Data) func(*engine.Engine) {
	return func(e *engine.Engine) {
		ctx := context.Background()
		as := make([]store.Assignment, 0, len(d.Assignments))
		for _, a := range d.Assignments {
			as = append(as, store.Assignment{User: a.User, Role: a.Role, Scope: a.Scope})
		}
		if _, err := e.ImportAssignments(ctx, as, "", "fixtures"); err != nil {
			t.Fatal(err)
		}
		for _, u := range d.Users {
			err := e.PutUser(ctx, store.User{ID: u.ID, Email: u.Email, Username: u.Username, IsActive: u.Active(),
				IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser, Language: u.Language, Attributes: u.Attributes}, "")
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range d.Resources {
			if err := e.PutResource(ctx, store.Resource{Type: r.Type, ID: r.ID, Properties: r.Properties}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReplayFixtures replays every case and search of testdata/fixtures
// over HTTP against a server seeded with the fixture's data: each case as a
// verbatim single evaluation (lean answer, and the reason when the fixture
// names one), each suite's cases again as one evaluations batch, and each
// search paged through with limit 2 and with the default page size.
func TestReplayFixtures(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(policyDir, "testdata", "fixtures", "*.yaml"))
	if len(paths) == 0 {
		t.Fatal("no fixture files in testdata/fixtures")
	}
	ctx := context.Background()
	for _, path := range paths {
		f, err := fixtures.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, serverOpts{pack: f.Pack, seed: seedFixture(t, f.Data)})
		for _, s := range f.Suites {
			t.Run(f.Pack+"/"+s.Name, func(t *testing.T) {
				if err := ts.Engine.SetSettings(ctx, s.Settings); err != nil {
					t.Fatal(err)
				}
				replayCases(t, ts, s.Cases)
				for _, q := range s.Searches {
					replaySearch(t, ts, q)
				}
			})
		}
	}
}

func replayCases(t *testing.T, ts *testServer, cases []fixtures.Case) {
	t.Helper()
	batch := make([]any, 0, len(cases))
	want := make([]bool, 0, len(cases))
	for _, c := range cases {
		r := ts.do("POST", "/access/v1/evaluation", c.Request, "")
		lean := `{"decision":false}`
		if c.Decision {
			lean = `{"decision":true}`
		}
		if r.Status != 200 || string(r.Body) != lean {
			t.Errorf("%s: got %d %s, want %s", c.Name, r.Status, r.Body, lean)
		}
		if c.ReasonContains != "" {
			d := decodeDecision(t, ts.do("POST", "/access/v1/evaluation", c.Request, "", "X-Provost-Explain: true"))
			if d.Context == nil || !strings.Contains(d.Context.Reason, c.ReasonContains) {
				t.Errorf("%s: explained answer %+v, want a reason containing %q", c.Name, d.Context, c.ReasonContains)
			}
		}
		batch = append(batch, c.Request)
		want = append(want, c.Decision)
	}
	if len(batch) == 0 {
		return
	}
	r := ts.do("POST", "/access/v1/evaluations", map[string]any{"evaluations": batch}, "")
	var out struct{ Evaluations []decisionOut }
	if err := json.Unmarshal(r.Body, &out); err != nil || r.Status != 200 || len(out.Evaluations) != len(want) {
		t.Fatalf("batch of %d: %d %v %.500s", len(want), r.Status, err, r.Body)
	}
	for i, d := range out.Evaluations {
		if d.Decision == nil || *d.Decision != want[i] || d.Context != nil {
			raw, _ := json.Marshal(d)
			t.Errorf("batch item %d (%s): %s, want a lean %v", i, cases[i].Name, raw, want[i])
		}
	}
}

func replaySearch(t *testing.T, ts *testServer, q fixtures.Search) {
	t.Helper()
	want := fixtures.ResultIDs(q)
	for _, limit := range []int{2, 0} {
		got, _ := searchAll(t, ts, q.Kind, q.Request, limit)
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("search %s (limit %d): got %v, want %v", q.Name, limit, got, want)
		}
	}
	// The results carry the asked type (or only a name) and nothing else.
	r := decodeSearch(t, ts.do("POST", "/access/v1/search/"+q.Kind, q.Request, ""))
	for i, res := range r.Results {
		if i >= len(q.Results) {
			break
		}
		wantRes := map[string]string{}
		for k, v := range q.Results[i] {
			s, _ := v.(string)
			wantRes[k] = s
		}
		if !maps.Equal(res, wantRes) {
			t.Errorf("search %s: result %d is %v, want %v", q.Name, i, res, wantRes)
		}
	}
}
