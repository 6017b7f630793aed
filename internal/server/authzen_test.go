package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
)

const (
	cs101  = "course-v1:Marvel+CS101+2026"
	phy201 = "course-v1:Marvel+PHY201+2026"
	// unicodeUser and colonUser hold staff on CS101, like the u* users.
	unicodeUser = "ünïcødé-☃-用户"
	colonUser   = "a+b:c"
)

// teamStaff are the users holding staff on CS101, sorted: the expected
// answer of "who may studio.edit_content CS101" together with alice.
var teamStaff = []string{colonUser, "u1", "u2", "u3", "u4", "u5", unicodeUser}

// seedTeam writes the cast of the decision tests: alice instructor of
// CS101, the teamStaff users staff of it, sybil with no role, gone
// inactive, and the two courses registered.
func seedTeam(t testing.TB) func(*engine.Engine) {
	return func(e *engine.Engine) {
		ctx := context.Background()
		as := []store.Assignment{{User: "alice", Role: "instructor", Scope: "course:" + cs101}}
		for _, u := range teamStaff {
			as = append(as, store.Assignment{User: u, Role: "staff", Scope: "course:" + cs101})
		}
		seedAssignments(t, e, as...)
		for _, u := range []store.User{{ID: "sybil", IsActive: true}, {ID: "gone", IsActive: false}} {
			if err := e.PutUser(ctx, u, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{cs101, phy201} {
			if err := e.PutResource(ctx, store.Resource{Type: "course", ID: id}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func startTeam(t *testing.T) *testServer {
	return startServer(t, serverOpts{seed: seedTeam(t)})
}

// eval builds an evaluation request body.
func eval(subject, action, resType, resID string) map[string]any {
	return map[string]any{
		"subject":  map[string]any{"type": "user", "id": subject},
		"action":   map[string]any{"name": action},
		"resource": map[string]any{"type": resType, "id": resID},
	}
}

// with returns a copy of m with key set to v.
func with(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}

// without returns a copy of m without key.
func without(m map[string]any, key string) map[string]any {
	out := with(m, key, nil)
	delete(out, key)
	return out
}

type decisionOut struct {
	Decision *bool `json:"decision"`
	Context  *struct {
		Reason     string `json:"reason"`
		DecisionID string `json:"decision_id"`
		Error      string `json:"error"`
	} `json:"context"`
}

func decodeDecision(t testing.TB, r response) decisionOut {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var d decisionOut
	if err := json.Unmarshal(r.Body, &d); err != nil || d.Decision == nil {
		t.Fatalf("not a decision: %v: %s", err, r.Body)
	}
	return d
}

// errorMessage returns error.message of an error body.
func errorMessage(t testing.TB, r response) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestEvaluationLean(t *testing.T) {
	ts := startTeam(t)
	cases := []struct {
		name string
		body any
		want string
	}{
		{"instructor edits", eval("alice", "studio.edit_content", "course", cs101), `{"decision":true}`},
		{"no role", eval("sybil", "studio.edit_content", "course", cs101), `{"decision":false}`},
		{"never written user", eval("nobody", "studio.view_content", "course", cs101), `{"decision":false}`},
		{"inactive", eval("gone", "course.create", "org", "Marvel"), `{"decision":false}`},
		{"other course", eval("alice", "studio.edit_content", "course", phy201), `{"decision":false}`},
		{"unicode id", eval(unicodeUser, "studio.edit_content", "course", cs101), `{"decision":true}`},
		{"id with + and :", eval(colonUser, "studio.edit_content", "course", cs101), `{"decision":true}`},
		{"unknown action", eval("alice", "studio.teleport", "course", cs101), `{"decision":false}`},
		{"unknown resource type", eval("alice", "studio.edit_content", "spaceship", "enterprise"), `{"decision":false}`},
		{"unknown subject type", with(eval("alice", "studio.edit_content", "course", cs101), "subject", map[string]any{"type": "group", "id": "alice"}), `{"decision":false}`},
		{"staff by request property", with(eval("sybil", "studio.edit_content", "course", cs101), "subject",
			map[string]any{"type": "user", "id": "sybil", "properties": map[string]any{"is_staff": true}}), `{"decision":true}`},
		{"non-boolean is_staff is a deny", with(eval("sybil", "studio.edit_content", "course", cs101), "subject",
			map[string]any{"type": "user", "id": "sybil", "properties": map[string]any{"is_staff": "yes"}}), `{"decision":false}`},
		{"explain false", with(eval("alice", "studio.edit_content", "course", cs101), "context", map[string]any{"explain": false}), `{"decision":true}`},
		{"explain as a string is not explain", with(eval("alice", "studio.edit_content", "course", cs101), "context", map[string]any{"explain": "true"}), `{"decision":true}`},
		{"unknown fields ignored", `{"subject":{"type":"user","id":"alice","nick":"al"},"action":{"name":"studio.edit_content","verb":1},` +
			`"resource":{"type":"course","id":"` + cs101 + `"},"context":{"time":"2026-01-01T00:00:00Z"},"extra":[1,2,{"x":null}]}`, `{"decision":true}`},
		{"null context", `{"subject":{"type":"user","id":"alice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"},"context":null}`, `{"decision":true}`},
		{"id longer than the engine accepts", eval(strings.Repeat("x", engine.MaxIDLen+1), "studio.edit_content", "course", cs101), `{"decision":false}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("POST", "/access/v1/evaluation", c.body, "")
			if r.Status != 200 || string(r.Body) != c.want {
				t.Fatalf("got %d %s, want 200 %s", r.Status, r.Body, c.want)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestEvaluationExplain(t *testing.T) {
	ts := startTeam(t)
	explainCtx := map[string]any{"explain": true}
	cases := []struct {
		name       string
		body       map[string]any
		header     string
		allow      bool
		reasonHas  string
		wantReason bool
	}{
		{"body, allow", with(eval("alice", "studio.edit_content", "course", cs101), "context", explainCtx), "", true, "", true},
		{"header, allow", eval("alice", "studio.edit_content", "course", cs101), "X-Provost-Explain: true", true, "", true},
		{"header 1", eval("bob", "studio.edit_content", "course", cs101), "X-Provost-Explain: 1", false, "", true},
		{"body, deny", with(eval("sybil", "studio.edit_content", "course", cs101), "context", explainCtx), "", false, "", true},
		{"unknown action has a reason", with(eval("alice", "studio.teleport", "course", cs101), "context", explainCtx), "", false, "", true},
		{"inactive user", with(eval("gone", "course.create", "org", "Marvel"), "context", explainCtx), "", false, "inactive user", true},
		{"malformed request", with(with(eval("alice", "studio.edit_content", "course", cs101), "subject", map[string]any{"type": "group", "id": "g"}), "context", explainCtx), "", false, "malformed request", true},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hs []string
			if c.header != "" {
				hs = append(hs, c.header)
			}
			d := decodeDecision(t, ts.do("POST", "/access/v1/evaluation", c.body, "", hs...))
			if *d.Decision != c.allow {
				t.Errorf("decision %v, want %v", *d.Decision, c.allow)
			}
			if d.Context == nil || d.Context.Reason == "" || d.Context.DecisionID == "" {
				t.Fatalf("explained answer without reason or decision_id: %+v", d.Context)
			}
			if d.Context.Error != "" {
				t.Errorf("context.error %q on a successful evaluation", d.Context.Error)
			}
			if !strings.Contains(d.Context.Reason, c.reasonHas) {
				t.Errorf("reason %q does not contain %q", d.Context.Reason, c.reasonHas)
			}
			if seen[d.Context.DecisionID] {
				t.Errorf("decision_id %s reused", d.Context.DecisionID)
			}
			seen[d.Context.DecisionID] = true
		})
	}
	// Explained answers carry exactly decision and context{reason, decision_id}.
	r := ts.do("POST", "/access/v1/evaluation", eval("alice", "studio.edit_content", "course", cs101), "", "X-Provost-Explain: true")
	m := r.JSON(t)
	ctx, _ := m["context"].(map[string]any)
	if len(m) != 2 || len(ctx) != 2 || ctx["reason"] == nil || ctx["decision_id"] == nil {
		t.Errorf("explained answer %s: want decision and context{reason,decision_id}", r.Body)
	}
	if !strings.HasPrefix(string(r.Body), `{"decision":true,"context":{"reason":`) {
		t.Errorf("explained answer %s: decision first", r.Body)
	}
}

func TestEvaluationBadRequests(t *testing.T) {
	ts := startTeam(t)
	ok := eval("alice", "studio.edit_content", "course", cs101)
	cases := []struct {
		name    string
		body    any
		status  int
		msgHas  string
		headers []string
	}{
		{"no subject", without(ok, "subject"), 400, "subject", nil},
		{"no action", without(ok, "action"), 400, "action", nil},
		{"no resource", without(ok, "resource"), 400, "resource", nil},
		{"empty subject.type", with(ok, "subject", map[string]any{"type": "", "id": "alice"}), 400, "subject.type", nil},
		{"no subject.type", with(ok, "subject", map[string]any{"id": "alice"}), 400, "subject.type", nil},
		{"empty subject.id", with(ok, "subject", map[string]any{"type": "user", "id": ""}), 400, "subject.id", nil},
		{"no subject.id", with(ok, "subject", map[string]any{"type": "user"}), 400, "subject.id", nil},
		{"empty action.name", with(ok, "action", map[string]any{"name": ""}), 400, "action.name", nil},
		{"action without name", with(ok, "action", map[string]any{"properties": map[string]any{}}), 400, "action.name", nil},
		{"empty resource.type", with(ok, "resource", map[string]any{"type": "", "id": cs101}), 400, "resource.type", nil},
		{"empty resource.id", with(ok, "resource", map[string]any{"type": "course", "id": ""}), 400, "resource.id", nil},
		{"null subject", with(ok, "subject", nil), 400, "subject", nil},
		{"string subject", with(ok, "subject", "x"), 400, "", nil},
		{"numeric id", with(ok, "subject", map[string]any{"type": "user", "id": 5}), 400, "", nil},
		{"numeric action name", with(ok, "action", map[string]any{"name": true}), 400, "", nil},
		{"array properties", with(ok, "resource", map[string]any{"type": "course", "id": cs101, "properties": []any{1}}), 400, "", nil},
		{"string context", with(ok, "context", "x"), 400, "", nil},
		{"array body", `[1,2]`, 400, "", nil},
		{"null body", `null`, 400, "subject", nil},
		{"empty object", `{}`, 400, "subject", nil},
		{"empty body", "", 400, "empty body", nil},
		{"malformed JSON", `{"subject":`, 400, "malformed", nil},
		{"trailing data", `{} {}`, 400, "", nil},
		{"text/plain", `{}`, 415, "", []string{"Content-Type: text/plain"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("POST", "/access/v1/evaluation", c.body, "", c.headers...)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if c.status == 400 && r.ErrorCode(t) != server.CodeBadRequest {
				t.Errorf("code %q: %s", r.ErrorCode(t), r.Body)
			}
			if msg := errorMessage(t, r); !strings.Contains(msg, c.msgHas) {
				t.Errorf("message %q does not name %q", msg, c.msgHas)
			}
		})
	}
	if r := ts.do("GET", "/access/v1/evaluation", nil, ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET evaluation = %d %s", r.Status, r.Body)
	}
}

// nested returns a JSON value nested depth levels deep: {"a":{"a":…1…}}.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func TestEvaluationHostileInput(t *testing.T) {
	ts := startTeam(t)
	prefix := `{"subject":{"type":"user","id":"alice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `","properties":{"big":"`
	suffix := `"}}}`
	fill := func(total int) string { return prefix + strings.Repeat("x", total-len(prefix)-len(suffix)) + suffix }
	withProps := func(where, v string) string {
		switch where {
		case "context":
			return `{"subject":{"type":"user","id":"alice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"},"context":` + v + `}`
		default:
			return `{"subject":{"type":"user","id":"alice","properties":` + v + `},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"}}`
		}
	}
	cases := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"body of exactly 1 MiB", fill(server.MaxBody), 200, `{"decision":true}`},
		{"body one byte over 1 MiB", fill(server.MaxBody + 1), 413, ""},
		{"body of 2 MiB", fill(2 * server.MaxBody), 413, ""},
		{"deep context", withProps("context", nested(5000)), 200, `{"decision":true}`},
		{"deep subject properties", withProps("properties", nested(5000)), 200, `{"decision":true}`},
		{"deep array in context", withProps("context", `{"a":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), 200, `{"decision":true}`},
		{"nesting beyond the decoder's limit", withProps("context", nested(20000)), 400, ""},
		{"many keys in context", withProps("context", manyKeys(20000)), 200, `{"decision":true}`},
		{"invalid UTF-8 in an id", `{"subject":{"type":"user","id":"al` + "\xff" + `ice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"}}`, 200, `{"decision":false}`},
		{"NUL in an id", `{"subject":{"type":"user","id":"alice\u0000"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"}}`, 200, `{"decision":false}`},
		{"escaped id equals alice", `{"subject":{"type":"user","id":"\u0061lice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"` + cs101 + `"}}`, 200, `{"decision":true}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("POST", "/access/v1/evaluation", c.body, "", "X-Request-ID: hostile-1")
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, c.status, r.Body)
			}
			if c.want != "" && string(r.Body) != c.want {
				t.Errorf("body %s, want %s", r.Body, c.want)
			}
			if c.status == 413 && r.ErrorCode(t) != server.CodeTooLarge {
				t.Errorf("code %q", r.ErrorCode(t))
			}
			if got := r.Header.Get("X-Request-ID"); got != "hostile-1" {
				t.Errorf("X-Request-ID %q", got)
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.String()
}

// chunkedPost sends body without Content-Length (chunked transfer coding).
func chunkedPost(t *testing.T, url string, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if req.ContentLength != 0 {
		t.Fatalf("ContentLength %d: the request would not be chunked", req.ContentLength)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func TestBodyLimitChunked(t *testing.T) {
	ts := startTeam(t)
	routes := []string{"/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/subject", "/access/v1/search/resource", "/access/v1/search/action"}
	big := `{"subject":{"type":"user","id":"alice","properties":{"big":"` + strings.Repeat("x", server.MaxBody) + `"}}}`
	for _, path := range routes {
		t.Run(path, func(t *testing.T) {
			status, body := chunkedPost(t, ts.URL+path, big)
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), server.CodeTooLarge) {
				t.Fatalf("chunked body over 1 MiB = %d %s", status, body)
			}
			r := ts.do("POST", path, big, "")
			if r.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("body over 1 MiB with a length = %d %s", r.Status, r.Body)
			}
		})
	}
	status, body := chunkedPost(t, ts.URL+"/access/v1/evaluation", `{"subject":{"type":"user","id":"alice"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"`+cs101+`"}}`)
	if status != 200 || string(body) != `{"decision":true}` {
		t.Fatalf("small chunked body = %d %s", status, body)
	}
}

func TestRequestIDEcho(t *testing.T) {
	ts := startTeam(t)
	ok := eval("alice", "studio.edit_content", "course", cs101)
	cases := []struct {
		name, path string
		body       any
		status     int
	}{
		{"allow", "/access/v1/evaluation", ok, 200},
		{"bad request", "/access/v1/evaluation", without(ok, "subject"), 400},
		{"evaluations", "/access/v1/evaluations", map[string]any{"evaluations": []any{ok}}, 200},
		{"search", "/access/v1/search/action", without(ok, "action"), 200},
		{"too large", "/access/v1/evaluation", strings.Repeat(" ", server.MaxBody+1), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "bfe9eb29-ab87-4ca3-be83-a1d5d8305716-" + c.name
			r := ts.do("POST", c.path, c.body, "", "X-Request-ID: "+id)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if got := r.Header.Get("X-Request-ID"); got != id {
				t.Errorf("X-Request-ID %q, want %q", got, id)
			}
		})
	}
	if r := ts.do("GET", "/.well-known/authzen-configuration", nil, "", "X-Request-ID: meta"); r.Header.Get("X-Request-ID") != "meta" {
		t.Errorf("metadata X-Request-ID %q", r.Header.Get("X-Request-ID"))
	}
	if r := ts.do("POST", "/access/v1/evaluation", ok, ""); r.Header.Get("X-Request-ID") != "" {
		t.Errorf("X-Request-ID %q without one in the request", r.Header.Get("X-Request-ID"))
	}
}

func TestEvaluations(t *testing.T) {
	ts := startTeam(t)
	alice := map[string]any{"type": "user", "id": "alice"}
	edit := map[string]any{"name": "studio.edit_content"}
	view := map[string]any{"name": "studio.view_content"}
	course := func(id string) map[string]any {
		return map[string]any{"resource": map[string]any{"type": "course", "id": id}}
	}
	defaults := map[string]any{"subject": alice, "action": edit}
	// alice may edit CS101, not PHY201: allow, deny, allow.
	items := []any{course(cs101), course(phy201), course(cs101)}
	semantic := func(s string) map[string]any { return map[string]any{"evaluations_semantic": s} }
	cases := []struct {
		name string
		body any
		want string
	}{
		{"defaults, execute_all by default", with(defaults, "evaluations", items),
			`{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`},
		{"execute_all", with(with(defaults, "evaluations", items), "options", semantic("execute_all")),
			`{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`},
		{"deny_on_first_deny stops after the deny", with(with(defaults, "evaluations", items), "options", semantic("deny_on_first_deny")),
			`{"evaluations":[{"decision":true},{"decision":false}]}`},
		{"permit_on_first_permit stops after the permit", with(with(defaults, "evaluations", []any{course(phy201), course(cs101), course(phy201)}), "options", semantic("permit_on_first_permit")),
			`{"evaluations":[{"decision":false},{"decision":true}]}`},
		{"permit_on_first_permit without a permit runs all", with(with(defaults, "evaluations", []any{course(phy201), course(phy201)}), "options", semantic("permit_on_first_permit")),
			`{"evaluations":[{"decision":false},{"decision":false}]}`},
		{"deny_on_first_deny without a deny runs all", with(with(defaults, "evaluations", []any{course(cs101), course(cs101)}), "options", semantic("deny_on_first_deny")),
			`{"evaluations":[{"decision":true},{"decision":true}]}`},
		{"item action overrides the default", with(defaults, "evaluations", []any{
			course(phy201), with(course(phy201), "action", view), with(with(course(cs101), "subject", map[string]any{"type": "user", "id": "sybil"}), "action", view)}),
			`{"evaluations":[{"decision":false},{"decision":false},{"decision":false}]}`},
		{"items without defaults", map[string]any{"evaluations": []any{
			eval("alice", "studio.edit_content", "course", cs101), eval("sybil", "studio.edit_content", "course", cs101), eval(unicodeUser, "studio.view_content", "course", cs101)}},
			`{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`},
		{"resource default, subjects per item", map[string]any{"action": edit, "resource": map[string]any{"type": "course", "id": cs101},
			"evaluations": []any{map[string]any{"subject": alice}, map[string]any{"subject": map[string]any{"type": "user", "id": "sybil"}}, map[string]any{"subject": map[string]any{"type": "user", "id": "u3"}}}},
			`{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`},
		{"null item takes every default", with(with(defaults, "resource", course(cs101)["resource"]), "evaluations", []any{nil}),
			`{"evaluations":[{"decision":true}]}`},
		{"no evaluations array: a single evaluation", eval("alice", "studio.edit_content", "course", cs101), `{"decision":true}`},
		{"empty evaluations array: a single evaluation", with(eval("sybil", "studio.edit_content", "course", cs101), "evaluations", []any{}), `{"decision":false}`},
		{"null evaluations: a single evaluation", with(eval("alice", "studio.edit_content", "course", cs101), "evaluations", nil), `{"decision":true}`},
		{"unknown options ignored", with(with(defaults, "evaluations", items[:1]), "options", map[string]any{"another_option": "value"}),
			`{"evaluations":[{"decision":true}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("POST", "/access/v1/evaluations", c.body, "")
			if r.Status != 200 || string(r.Body) != c.want {
				t.Fatalf("got %d %s\nwant 200 %s", r.Status, r.Body, c.want)
			}
		})
	}
}

func TestEvaluationsErrors(t *testing.T) {
	ts := startTeam(t)
	alice := map[string]any{"type": "user", "id": "alice"}
	edit := map[string]any{"name": "studio.edit_content"}
	res := map[string]any{"type": "course", "id": cs101}
	defaults := map[string]any{"subject": alice, "action": edit}

	t.Run("payload errors are 400", func(t *testing.T) {
		cases := []struct {
			name   string
			body   any
			msgHas string
		}{
			{"unknown semantic", map[string]any{"subject": alice, "action": edit, "resource": res, "evaluations": []any{map[string]any{}},
				"options": map[string]any{"evaluations_semantic": "deny_on_every_tuesday"}}, "evaluations_semantic"},
			{"unknown semantic without evaluations", map[string]any{"subject": alice, "action": edit, "resource": res,
				"options": map[string]any{"evaluations_semantic": "all"}}, "evaluations_semantic"},
			{"no evaluations and no subject", map[string]any{"action": edit, "resource": res}, "subject"},
			{"evaluations not an array", with(defaults, "evaluations", map[string]any{}), ""},
			{"item not an object", with(defaults, "evaluations", []any{"x"}), ""},
			{"item with a numeric id", with(defaults, "evaluations", []any{map[string]any{"resource": map[string]any{"type": "course", "id": 7}}}), ""},
			{"semantic not a string", with(with(defaults, "evaluations", []any{}), "options", map[string]any{"evaluations_semantic": 1}), ""},
			{"too many evaluations", with(with(defaults, "resource", res), "evaluations", make([]any, server.MaxEvaluations+1)), "at most"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := ts.do("POST", "/access/v1/evaluations", c.body, "")
				if r.Status != 400 || r.ErrorCode(t) != server.CodeBadRequest {
					t.Fatalf("got %d %s, want 400", r.Status, r.Body)
				}
				if msg := errorMessage(t, r); !strings.Contains(msg, c.msgHas) {
					t.Errorf("message %q does not name %q", msg, c.msgHas)
				}
			})
		}
	})

	t.Run("an item missing a field is a deny of that item", func(t *testing.T) {
		body := with(defaults, "evaluations", []any{
			map[string]any{"resource": res},
			map[string]any{}, // no resource anywhere
			// The item's subject replaces the default whole: no type.
			map[string]any{"resource": res, "subject": map[string]any{"id": "alice"}},
			map[string]any{"resource": res},
		})
		r := ts.do("POST", "/access/v1/evaluations", body, "")
		if r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		var out struct{ Evaluations []decisionOut }
		if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Evaluations) != 4 {
			t.Fatalf("%v: %s", err, r.Body)
		}
		wantErr := []string{"", "evaluations[1]: resource is missing", "evaluations[2]: subject.type is missing", ""}
		for i, d := range out.Evaluations {
			if wantErr[i] == "" {
				if !*d.Decision || d.Context != nil {
					t.Errorf("item %d: %s", i, r.Body)
				}
				continue
			}
			if *d.Decision || d.Context == nil || !strings.HasPrefix(d.Context.Error, wantErr[i]) || d.Context.Reason == "" || d.Context.DecisionID == "" {
				t.Errorf("item %d: want a deny with error %q, reason and decision_id: %s", i, wantErr[i], r.Body)
			}
		}
		// deny_on_first_deny stops at the failed item.
		r = ts.do("POST", "/access/v1/evaluations", with(body, "options", map[string]any{"evaluations_semantic": "deny_on_first_deny"}), "")
		if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Evaluations) != 2 {
			t.Errorf("deny_on_first_deny: %s", r.Body)
		}
	})

	t.Run("explain per item", func(t *testing.T) {
		body := map[string]any{"subject": alice, "action": edit, "resource": res, "context": map[string]any{"explain": true},
			"evaluations": []any{map[string]any{}, map[string]any{"context": map[string]any{"time": "now"}}}}
		r := ts.do("POST", "/access/v1/evaluations", body, "")
		var out struct{ Evaluations []decisionOut }
		if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Evaluations) != 2 {
			t.Fatalf("%v: %s", err, r.Body)
		}
		if c := out.Evaluations[0].Context; c == nil || c.Reason == "" || c.DecisionID == "" {
			t.Errorf("item 0 inherits the explaining context: %s", r.Body)
		}
		if out.Evaluations[1].Context != nil {
			t.Errorf("item 1 replaces the context and is lean: %s", r.Body)
		}
		r = ts.do("POST", "/access/v1/evaluations", without(body, "context"), "", "X-Provost-Explain: true")
		if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Evaluations) != 2 {
			t.Fatalf("%v: %s", err, r.Body)
		}
		for i, d := range out.Evaluations {
			if d.Context == nil || d.Context.DecisionID == "" {
				t.Errorf("item %d not explained under the header: %s", i, r.Body)
			}
		}
		if out.Evaluations[0].Context.DecisionID == out.Evaluations[1].Context.DecisionID {
			t.Errorf("items share a decision_id: %s", r.Body)
		}
	})
}

// searchAll pages through a search with limit and returns the ids (or
// names) and the number of pages.
func searchAll(t *testing.T, ts *testServer, kind string, body map[string]any, limit int) ([]string, int) {
	t.Helper()
	var out []string
	token := ""
	for pages := 1; pages < 10000; pages++ {
		page := map[string]any{}
		if limit > 0 {
			page["limit"] = limit
		}
		if token != "" {
			page["token"] = token
		}
		r := ts.do("POST", "/access/v1/search/"+kind, with(body, "page", page), "")
		res := decodeSearch(t, r)
		if limit > 0 && len(res.Results) > limit {
			t.Fatalf("page of %d results over limit %d", len(res.Results), limit)
		}
		for _, x := range res.Results {
			if kind == "action" {
				out = append(out, x["name"])
			} else {
				out = append(out, x["id"])
			}
		}
		if res.Page.NextToken == "" {
			return out, pages
		}
		token = res.Page.NextToken
	}
	t.Fatal("paging does not end")
	return nil, 0
}

type searchOut struct {
	Results []map[string]string `json:"results"`
	Page    struct {
		NextToken string `json:"next_token"`
	} `json:"page"`
}

func decodeSearch(t testing.TB, r response) searchOut {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("search status %d: %s", r.Status, r.Body)
	}
	var s searchOut
	if err := json.Unmarshal(r.Body, &s); err != nil || s.Results == nil {
		t.Fatalf("not a search answer: %v: %s", err, r.Body)
	}
	var raw struct {
		Page map[string]any `json:"page"`
	}
	_ = json.Unmarshal(r.Body, &raw)
	if _, ok := raw.Page["next_token"].(string); !ok || len(raw.Page) != 1 {
		t.Fatalf("page is not {\"next_token\":…}: %s", r.Body)
	}
	return s
}

func TestSearches(t *testing.T) {
	ts := startTeam(t)
	editCS101 := map[string]any{"subject": map[string]any{"type": "user"}, "action": map[string]any{"name": "studio.edit_content"},
		"resource": map[string]any{"type": "course", "id": cs101}}
	editors := append([]string{"alice"}, teamStaff...)
	slices.Sort(editors)
	bobCourses := map[string]any{"subject": map[string]any{"type": "user", "id": "u1"}, "action": map[string]any{"name": "studio.view_content"},
		"resource": map[string]any{"type": "course"}}
	aliceOnCS101 := map[string]any{"subject": map[string]any{"type": "user", "id": "alice"}, "resource": map[string]any{"type": "course", "id": cs101}}

	// The actions alice may do on CS101, by single evaluations.
	var aliceActions []string
	for _, a := range ts.Engine.Actions("course") {
		if d := decodeDecision(t, ts.do("POST", "/access/v1/evaluation", eval("alice", a, "course", cs101), "")); *d.Decision {
			aliceActions = append(aliceActions, a)
		}
	}
	if len(aliceActions) < 3 {
		t.Fatalf("alice may do only %v on CS101", aliceActions)
	}

	cases := []struct {
		name, kind string
		body       map[string]any
		want       []string
	}{
		{"subjects who may edit CS101", "subject", editCS101, editors},
		{"subject id is ignored", "subject", with(editCS101, "subject", map[string]any{"type": "user", "id": "sybil"}), editors},
		{"subjects of an unknown resource type", "subject", with(editCS101, "resource", map[string]any{"type": "spaceship", "id": "x"}), []string{}},
		{"subjects of an unknown action", "subject", with(editCS101, "action", map[string]any{"name": "studio.teleport"}), []string{}},
		{"resources u1 may view", "resource", bobCourses, []string{cs101}},
		{"resource id is ignored", "resource", with(bobCourses, "resource", map[string]any{"type": "course", "id": phy201}), []string{cs101}},
		{"resources of an unknown type", "resource", with(bobCourses, "resource", map[string]any{"type": "spaceship"}), []string{}},
		{"resources of a user without roles", "resource", with(bobCourses, "subject", map[string]any{"type": "user", "id": "sybil"}), []string{}},
		{"actions alice may do on CS101", "action", aliceOnCS101, aliceActions},
		{"action is ignored", "action", with(aliceOnCS101, "action", map[string]any{"name": "x"}), aliceActions},
		{"actions on an unknown resource type", "action", with(aliceOnCS101, "resource", map[string]any{"type": "spaceship", "id": "x"}), []string{}},
		{"actions of a user without roles", "action", with(aliceOnCS101, "subject", map[string]any{"type": "user", "id": "sybil"}), []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			all, pages := searchAll(t, ts, c.kind, c.body, 0)
			if all == nil {
				all = []string{}
			}
			if !slices.Equal(all, c.want) || pages != 1 {
				t.Fatalf("default page: %v in %d pages, want %v in 1", all, pages, c.want)
			}
			for _, limit := range []int{1, 2} {
				got, pages := searchAll(t, ts, c.kind, c.body, limit)
				if got == nil {
					got = []string{}
				}
				wantPages := max(1, (len(c.want)+limit-1)/limit)
				if !slices.Equal(got, c.want) || pages != wantPages {
					t.Errorf("limit %d: %v in %d pages, want %v in %d", limit, got, pages, c.want, wantPages)
				}
			}
		})
	}

	t.Run("exact text", func(t *testing.T) {
		r := ts.do("POST", "/access/v1/search/resource", bobCourses, "")
		want := `{"results":[{"type":"course","id":"` + cs101 + `"}],"page":{"next_token":""}}`
		if string(r.Body) != want {
			t.Errorf("resource search %s, want %s", r.Body, want)
		}
		r = ts.do("POST", "/access/v1/search/subject", with(editCS101, "page", map[string]any{"limit": 1}), "")
		s := decodeSearch(t, r)
		want = `{"results":[{"type":"user","id":"` + colonUser + `"}],"page":{"next_token":"` + s.Page.NextToken + `"}}`
		if string(r.Body) != want || s.Page.NextToken == "" {
			t.Errorf("subject search %s, want %s", r.Body, want)
		}
		r = ts.do("POST", "/access/v1/search/resource", with(bobCourses, "resource", map[string]any{"type": "spaceship"}), "")
		if string(r.Body) != `{"results":[],"page":{"next_token":""}}` {
			t.Errorf("empty search %s", r.Body)
		}
		r = ts.do("POST", "/access/v1/search/action", with(aliceOnCS101, "page", map[string]any{"limit": 1}), "")
		s = decodeSearch(t, r)
		want = `{"results":[{"name":"` + aliceActions[0] + `"}],"page":{"next_token":"` + s.Page.NextToken + `"}}`
		if string(r.Body) != want {
			t.Errorf("action search %s, want %s", r.Body, want)
		}
	})

	t.Run("the drafts' page.next_token is accepted", func(t *testing.T) {
		first := decodeSearch(t, ts.do("POST", "/access/v1/search/subject", with(editCS101, "page", map[string]any{"limit": 2}), ""))
		second := decodeSearch(t, ts.do("POST", "/access/v1/search/subject", with(editCS101, "page", map[string]any{"limit": 2, "next_token": first.Page.NextToken}), ""))
		if len(second.Results) != 2 || second.Results[0]["id"] != editors[2] {
			t.Errorf("second page %v", second.Results)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		cases := []struct {
			name, kind string
			body       any
			msgHas     string
		}{
			{"subject search without subject", "subject", without(editCS101, "subject"), "subject"},
			{"subject search without subject.type", "subject", with(editCS101, "subject", map[string]any{"id": "alice"}), "subject.type"},
			{"subject search without action", "subject", without(editCS101, "action"), "action"},
			{"subject search without resource.id", "subject", with(editCS101, "resource", map[string]any{"type": "course"}), "resource.id"},
			{"subject search of groups", "subject", with(editCS101, "subject", map[string]any{"type": "group"}), "group"},
			{"resource search without subject.id", "resource", with(bobCourses, "subject", map[string]any{"type": "user"}), "subject.id"},
			{"resource search without action.name", "resource", with(bobCourses, "action", map[string]any{}), "action.name"},
			{"resource search without resource", "resource", without(bobCourses, "resource"), "resource"},
			{"resource search without resource.type", "resource", with(bobCourses, "resource", map[string]any{"id": cs101}), "resource.type"},
			{"action search without subject", "action", without(aliceOnCS101, "subject"), "subject"},
			{"action search without resource.id", "action", with(aliceOnCS101, "resource", map[string]any{"type": "course"}), "resource.id"},
			{"action search with an over-long id", "action", with(aliceOnCS101, "subject", map[string]any{"type": "user", "id": strings.Repeat("x", engine.MaxIDLen+1)}), "longer"},
			{"bad page token", "subject", with(editCS101, "page", map[string]any{"token": "not-a-token"}), "page token"},
			{"forged page token", "resource", with(bobCourses, "page", map[string]any{"token": "eHl6"}), "page token"},
			{"negative limit", "subject", with(editCS101, "page", map[string]any{"limit": -1}), "page.limit"},
			{"fractional limit", "subject", with(editCS101, "page", map[string]any{"limit": 1.5}), ""},
			{"string limit", "subject", with(editCS101, "page", map[string]any{"limit": "2"}), ""},
			{"page not an object", "action", with(aliceOnCS101, "page", "next"), ""},
			{"malformed JSON", "resource", `{"subject":`, "malformed"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := ts.do("POST", "/access/v1/search/"+c.kind, c.body, "")
				if r.Status != 400 || r.ErrorCode(t) != server.CodeBadRequest {
					t.Fatalf("got %d %s, want 400", r.Status, r.Body)
				}
				if msg := errorMessage(t, r); !strings.Contains(msg, c.msgHas) {
					t.Errorf("message %q does not name %q", msg, c.msgHas)
				}
			})
		}
	})
}

func TestMetadata(t *testing.T) {
	ts := startTeam(t)
	want := func(base string) string {
		return `{"policy_decision_point":"` + base + `",` +
			`"access_evaluation_endpoint":"` + base + `/access/v1/evaluation",` +
			`"access_evaluations_endpoint":"` + base + `/access/v1/evaluations",` +
			`"search_subject_endpoint":"` + base + `/access/v1/search/subject",` +
			`"search_resource_endpoint":"` + base + `/access/v1/search/resource",` +
			`"search_action_endpoint":"` + base + `/access/v1/search/action"}`
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	cases := []struct {
		name    string
		headers []string
		host    string
		base    string
	}{
		{"as served", nil, "", ts.URL},
		{"behind a TLS proxy", []string{"X-Forwarded-Proto: https"}, "", "https://" + host},
		{"proxy chain", []string{"X-Forwarded-Proto: HTTPS, http"}, "", "https://" + host},
		{"junk scheme ignored", []string{"X-Forwarded-Proto: javascript"}, "", ts.URL},
		{"another Host", nil, "pdp.example.com:8443", "http://pdp.example.com:8443"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/.well-known/authzen-configuration", nil)
			for _, h := range c.headers {
				k, v, _ := strings.Cut(h, ":")
				req.Header.Set(k, strings.TrimSpace(v))
			}
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != want(c.base) {
				t.Fatalf("got %d %s\nwant %s", resp.StatusCode, body, want(c.base))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// Every advertised endpoint answers.
	var m map[string]string
	if err := json.Unmarshal(ts.do("GET", "/.well-known/authzen-configuration", nil, "").Body, &m); err != nil {
		t.Fatal(err)
	}
	for k, u := range m {
		if k == "policy_decision_point" {
			continue
		}
		r := ts.do("POST", strings.TrimPrefix(u, ts.URL), eval("alice", "studio.edit_content", "course", cs101), "")
		if r.Status != 200 {
			t.Errorf("%s %s = %d %s", k, u, r.Status, r.Body)
		}
	}
}

// writeTokens writes a tokens file and loads it.
func writeTokens(t *testing.T, secrets map[string][]string) []server.Token {
	t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	for secret, scopes := range secrets {
		sum := sha256.Sum256([]byte(secret))
		fmt.Fprintf(&b, "  - name: %s\n    sha256: %s\n    scopes: [%s]\n", secret, hex.EncodeToString(sum[:]), strings.Join(scopes, ", "))
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := server.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

func TestDecisionAuth(t *testing.T) {
	toks := writeTokens(t, map[string][]string{"decide-secret": {"decide"}, "manage-secret": {"manage"}})
	ok := eval("alice", "studio.edit_content", "course", cs101)
	routes := []struct {
		path string
		body any
	}{
		{"/access/v1/evaluation", ok},
		{"/access/v1/evaluations", map[string]any{"evaluations": []any{ok}}},
		{"/access/v1/search/subject", with(ok, "subject", map[string]any{"type": "user"})},
		{"/access/v1/search/resource", with(ok, "resource", map[string]any{"type": "course"})},
		{"/access/v1/search/action", without(ok, "action")},
	}
	remote := startServer(t, serverOpts{seed: seedTeam(t), cfg: server.Config{Addr: "10.0.0.1:8181", Tokens: toks}})
	anon := startServer(t, serverOpts{seed: seedTeam(t), cfg: server.Config{Addr: "0.0.0.0:8181", AllowAnonymousDecisions: true}})
	local := startTeam(t)
	cases := []struct {
		name   string
		ts     *testServer
		token  string
		status int
	}{
		{"remote, no token", remote, "", 401},
		{"remote, wrong token", remote, "nope", 401},
		{"remote, manage token", remote, "manage-secret", 403},
		{"remote, decide token", remote, "decide-secret", 200},
		{"remote, admin token", remote, adminToken, 200},
		{"anonymous allowed, no token", anon, "", 200},
		{"anonymous allowed, wrong token", anon, "nope", 200},
		{"loopback, no token", local, "", 200},
		{"loopback, wrong token ignored", local, "nope", 200},
		{"loopback, manage token ignored", local, "manage-secret", 200},
	}
	for _, c := range cases {
		for _, rt := range routes {
			t.Run(c.name+rt.path, func(t *testing.T) {
				r := c.ts.do("POST", rt.path, rt.body, c.token)
				if r.Status != c.status {
					t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
				}
				switch c.status {
				case 401:
					if r.ErrorCode(t) != server.CodeUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("401 without code or challenge: %v %s", r.Header, r.Body)
					}
				case 403:
					if r.ErrorCode(t) != server.CodeForbidden {
						t.Errorf("code %q", r.ErrorCode(t))
					}
				}
			})
		}
	}
	// Metadata is public, and 413 comes before 401.
	if r := remote.do("GET", "/.well-known/authzen-configuration", nil, ""); r.Status != 200 {
		t.Errorf("remote metadata = %d %s", r.Status, r.Body)
	}
	if r := remote.do("POST", "/access/v1/evaluation", strings.Repeat(" ", server.MaxBody+1), ""); r.Status != 413 {
		t.Errorf("remote, no token, too large = %d %s", r.Status, r.Body)
	}
}

// boomRego adds rules to a copy of the openedx pack that fail at
// evaluation time (conflicting values of a complete rule) when the request
// context asks for it: boom for decisions, boom_search for search candidates.
const boomRego = `package openedx

import rego.v1

boom_value := 1 if input.context.boom == true

boom_value := 2 if input.context.boom == true

deny contains "boom" if boom_value == 3

resource_candidates := {"x"} if input.context.boom_search == true

subject_candidates := {"x"} if input.context.boom_search == true
`

// boomPolicyDir copies model.conf, policies/ and rego/openedx and adds boomRego.
func boomPolicyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyTree := func(src, dst string) {
		err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	copyTree(filepath.Join(policyDir, "rego", "openedx"), filepath.Join(dir, "rego", "openedx"))
	copyTree(filepath.Join(policyDir, "policies"), filepath.Join(dir, "policies"))
	copyTree(filepath.Join(policyDir, "model.conf"), filepath.Join(dir, "model.conf"))
	if err := os.WriteFile(filepath.Join(dir, "rego", "openedx", "zz_boom.rego"), []byte(boomRego), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvaluationErrorsFailClosed(t *testing.T) {
	ts := startServer(t, serverOpts{policyDir: boomPolicyDir(t), seed: seedTeam(t)})
	ok := eval("alice", "studio.edit_content", "course", cs101)
	boom := with(ok, "context", map[string]any{"boom": true})
	if r := ts.do("POST", "/access/v1/evaluation", ok, ""); string(r.Body) != `{"decision":true}` {
		t.Fatalf("control: %d %s", r.Status, r.Body)
	}

	d := decodeDecision(t, ts.do("POST", "/access/v1/evaluation", boom, ""))
	if *d.Decision || d.Context == nil || d.Context.Error == "" || d.Context.Reason == "" || d.Context.DecisionID == "" {
		t.Fatalf("evaluation error without explain: want a deny with context.error, reason, decision_id: %+v", d.Context)
	}
	if !strings.Contains(d.Context.Error, "conflict") {
		t.Errorf("context.error %q", d.Context.Error)
	}

	r := ts.do("POST", "/access/v1/evaluations", map[string]any{"subject": ok["subject"], "action": ok["action"], "resource": ok["resource"],
		"evaluations": []any{map[string]any{}, map[string]any{"context": map[string]any{"boom": true}}, map[string]any{}}}, "")
	var out struct{ Evaluations []decisionOut }
	if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Evaluations) != 3 {
		t.Fatalf("%v: %s", err, r.Body)
	}
	if !*out.Evaluations[0].Decision || *out.Evaluations[1].Decision || out.Evaluations[1].Context == nil ||
		out.Evaluations[1].Context.Error == "" || !*out.Evaluations[2].Decision {
		t.Errorf("evaluations with a failing item: %s", r.Body)
	}

	// A search whose candidates fail answers no results, never 5xx.
	for _, c := range []struct{ kind, want string }{
		{"subject", `{"results":[],"page":{"next_token":""}}`},
		{"resource", `{"results":[],"page":{"next_token":""}}`},
	} {
		body := with(ok, "context", map[string]any{"boom_search": true})
		if c.kind == "subject" {
			body = with(body, "subject", map[string]any{"type": "user"})
		} else {
			body = with(body, "resource", map[string]any{"type": "course"})
		}
		r := ts.do("POST", "/access/v1/search/"+c.kind, body, "")
		if r.Status != 200 || string(r.Body) != c.want {
			t.Errorf("%s search with failing candidates = %d %s", c.kind, r.Status, r.Body)
		}
	}
	// A search whose every decision fails is empty too.
	r = ts.do("POST", "/access/v1/search/action", without(boom, "action"), "")
	if r.Status != 200 || string(r.Body) != `{"results":[],"page":{"next_token":""}}` {
		t.Errorf("action search with failing decisions = %d %s", r.Status, r.Body)
	}
}

// TestDecideFailsClosed checks the engine half of "never an allow on
// error": a panic inside Decide (here a nil request) is a deny with Error.
func TestDecideFailsClosed(t *testing.T) {
	ts := startTeam(t)
	d := ts.Engine.Decide(context.Background(), nil)
	if d.Allow || d.Error == "" || d.ID == "" {
		t.Fatalf("Decide(nil) = %+v, want a deny with Error and an ID", d)
	}
}
