package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
)

// The fuzz targets send raw bodies through the real handler of a server
// whose store holds no role assignment at all, with the openedx pack's
// creator group enabled (so that course and organization creation need a
// role too). Under that data the only allows the pack can give are to a
// subject the request itself makes global staff (subject.properties.is_staff
// true) and a user revoking a role of their own (role.revoke with
// resource.properties.user = subject.id). Every target checks that the
// answer is never 5xx, that a 200 is JSON, and that nothing else is ever
// allowed or found.

// fuzzTuple decodes a body the way the handlers do (same types, same
// decoder), for the oracle.
type fuzzTuple struct {
	Subject  *engine.Entity `json:"subject"`
	Action   *engine.Action `json:"action"`
	Resource *engine.Entity `json:"resource"`
}

type fuzzBody struct {
	fuzzTuple
	Evaluations []fuzzTuple `json:"evaluations"`
}

func (t fuzzTuple) staff() bool {
	if t.Subject == nil {
		return false
	}
	on, _ := t.Subject.Properties["is_staff"].(bool)
	return on
}

// mayAllow reports whether the pack may allow the evaluation under the fuzz data.
func (t fuzzTuple) mayAllow() bool {
	if t.staff() {
		return true
	}
	if t.Subject == nil || t.Action == nil || t.Resource == nil || t.Action.Name != "role.revoke" {
		return false
	}
	user, _ := t.Resource.Properties["user"].(string)
	return user == t.Subject.ID
}

// withDefaults is AuthZEN's defaults rule: an item's member, when present,
// replaces the top-level one.
func (t fuzzTuple) withDefaults(top fuzzTuple) fuzzTuple {
	if t.Subject == nil {
		t.Subject = top.Subject
	}
	if t.Action == nil {
		t.Action = top.Action
	}
	if t.Resource == nil {
		t.Resource = top.Resource
	}
	return t
}

// fuzzHandler is the handler of a server over the fuzz data: users sybil
// (active) and gone (inactive), a course, an org and the platform, no roles.
func fuzzHandler(f *testing.F) http.Handler {
	ts := startServer(f, serverOpts{seed: func(e *engine.Engine) {
		ctx := context.Background()
		if err := e.SetSettings(ctx, map[string]any{"ENABLE_CREATOR_GROUP": true}); err != nil {
			f.Fatal(err)
		}
		for _, u := range []store.User{{ID: "sybil", IsActive: true}, {ID: "gone"}} {
			if err := e.PutUser(ctx, u, ""); err != nil {
				f.Fatal(err)
			}
		}
		for _, r := range []store.Resource{{Type: "course", ID: cs101}, {Type: "org", ID: "Marvel"}, {Type: "platform", ID: "*"}} {
			if err := e.PutResource(ctx, r, ""); err != nil {
				f.Fatal(err)
			}
		}
	}})
	return ts.Server.Handler()
}

// serve posts body to path; odd-length bodies also ask for explanations.
func serve(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if len(body)%2 == 1 {
		req.Header.Set("X-Provost-Explain", "true")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// checkAnswer fails on a 5xx or a 200 that is not a JSON object, and
// returns whether the answer is a 200.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, body []byte) bool {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.Bytes())
	}
	if w.Code != http.StatusOK {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("200 with a body that is not a JSON object for %q: %v: %s", body, err, w.Body.Bytes())
	}
	return true
}

// decodeOracle decodes body like the handlers; a body the handler answered
// 200 must decode.
func decodeOracle(t *testing.T, body []byte) fuzzBody {
	t.Helper()
	var in fuzzBody
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatalf("the handler answered 200 to %q, which does not decode: %v", body, err)
	}
	return in
}

var fuzzSeeds = [][]byte{
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"course.create"},"resource":{"type":"org","id":"Marvel"},"context":{"explain":true}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"organization.create"},"resource":{"type":"platform","id":"*"}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"role.grant"},"resource":{"type":"role","id":"staff","properties":{"scope":"course:course-v1:Marvel+CS101+2026","user":"sybil"}}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"role.revoke"},"resource":{"type":"role","id":"staff","properties":{"scope":"course:course-v1:Marvel+CS101+2026","user":"other"}}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil","properties":{"is_staff":true}},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil","properties":{"is_staff":"true","is_active":1}},"action":{"name":"forum.see_all_cohorts"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`),
	[]byte(`{"subject":{"type":"user","id":"gone"},"action":{"name":"instructor.research"},"resource":{"type":"report","id":"r","properties":{"course":"course-v1:Marvel+CS101+2026"}}}`),
	[]byte(`{"subject":{"type":"user"},"action":{"name":"studio.view_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"},"page":{"limit":1}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"course.create"},"resource":{"type":"org"},"page":{"token":"cE1hcnZlbA","limit":2}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`),
	[]byte(`{"subject":{"type":"user","id":"sybil"},"action":{"name":"studio.view_content"},"options":{"evaluations_semantic":"deny_on_first_deny"},"evaluations":[{"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}},{"action":{"name":"course.create"},"resource":{"type":"org","id":"Marvel"}},{}]}`),
	[]byte(`{"evaluations":[null,{"subject":null},{"subject":{"type":"user","id":"sybil"},"action":{"name":"course.rerun"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"},"context":{"target_org":"Marvel"}}],"options":{"evaluations_semantic":"permit_on_first_permit"}}`),
	[]byte(`{"subject":{"type":"user","id":"\u00fc+:"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"ccx-v1:Marvel+CS101+2026+ccx@3"},"context":{"a":[[[{"b":null}]]]}}`),
	[]byte(`{"subject":"x","action":[],"resource":5}`),
	[]byte(`{}`),
	[]byte(`null`),
	[]byte(``),
}

// fuzzRoute is the shared body of the single-route targets: check the
// answer and, for a 200, the oracle.
func fuzzRoute(f *testing.F, path string, oracle func(t *testing.T, in fuzzBody, answer []byte)) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serve(h, path, body)
		if checkAnswer(t, w, body) {
			oracle(t, decodeOracle(t, body), w.Body.Bytes())
		}
	})
}

// checkDecision fails when a decision answer allows what the oracle forbids.
func checkDecision(t *testing.T, tuple fuzzTuple, answer []byte, what string) {
	t.Helper()
	var d struct {
		Decision *bool `json:"decision"`
	}
	if err := json.Unmarshal(answer, &d); err != nil || d.Decision == nil {
		t.Fatalf("%s: not a decision: %v: %s", what, err, answer)
	}
	if *d.Decision && !tuple.mayAllow() {
		t.Fatalf("%s: allowed a subject with no role and not staff: %s", what, answer)
	}
}

func FuzzEvaluation(f *testing.F) {
	fuzzRoute(f, "/access/v1/evaluation", func(t *testing.T, in fuzzBody, answer []byte) {
		checkDecision(t, in.fuzzTuple, answer, "evaluation")
	})
}

func FuzzEvaluations(f *testing.F) {
	fuzzRoute(f, "/access/v1/evaluations", func(t *testing.T, in fuzzBody, answer []byte) {
		if len(in.Evaluations) == 0 {
			checkDecision(t, in.fuzzTuple, answer, "evaluations without items")
			return
		}
		var out struct {
			Evaluations []json.RawMessage `json:"evaluations"`
		}
		if err := json.Unmarshal(answer, &out); err != nil || len(out.Evaluations) == 0 || len(out.Evaluations) > len(in.Evaluations) {
			t.Fatalf("%d items answered %s (%v)", len(in.Evaluations), answer, err)
		}
		for i, d := range out.Evaluations {
			checkDecision(t, in.Evaluations[i].withDefaults(in.fuzzTuple), d, "evaluations item")
		}
	})
}

// checkNoResults fails when a search finds something for a subject the
// oracle says may do nothing.
func checkNoResults(t *testing.T, mayFind bool, answer []byte) {
	t.Helper()
	var out struct {
		Results []json.RawMessage `json:"results"`
		Page    *struct {
			NextToken *string `json:"next_token"`
		} `json:"page"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || out.Results == nil || out.Page == nil || out.Page.NextToken == nil {
		t.Fatalf("not a search answer: %v: %s", err, answer)
	}
	if len(out.Results) > 0 && !mayFind {
		t.Fatalf("found results for a subject with no role and not staff: %s", answer)
	}
}

func FuzzSearchSubject(f *testing.F) {
	fuzzRoute(f, "/access/v1/search/subject", func(t *testing.T, in fuzzBody, answer []byte) {
		checkNoResults(t, in.staff() || (in.Action != nil && in.Action.Name == "role.revoke"), answer)
	})
}

func FuzzSearchResource(f *testing.F) {
	fuzzRoute(f, "/access/v1/search/resource", func(t *testing.T, in fuzzBody, answer []byte) {
		checkNoResults(t, in.staff() || (in.Action != nil && in.Action.Name == "role.revoke"), answer)
	})
}

func FuzzSearchAction(f *testing.F) {
	fuzzRoute(f, "/access/v1/search/action", func(t *testing.T, in fuzzBody, answer []byte) {
		checkNoResults(t, in.staff() || (in.Resource != nil && in.Resource.Type == "role"), answer)
	})
}
