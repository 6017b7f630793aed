package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
)

const (
	manageToken = "test-manage-secret"
	decideToken = "test-decide-secret"
	mgCourse    = "course-v1:Marvel+CS101+2026"
	mgScope     = "course:" + mgCourse
)

// startManaged starts a server with a manage-scoped token and a
// decide-scoped one besides the admin token, and the users: global staff
// "nick", instructor "ins" of CS101, "bob" and the inactive "ghost".
func startManaged(t *testing.T) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	doc := fmt.Sprintf("tokens:\n- name: lms\n  sha256: %x\n  scopes: [manage]\n- name: gateway\n  sha256: %x\n  scopes: [decide]\n",
		sha256.Sum256([]byte(manageToken)), sha256.Sum256([]byte(decideToken)))
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := server.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, serverOpts{cfg: server.Config{Tokens: toks}, seed: func(e *engine.Engine) {
		ctx := context.Background()
		for _, u := range []store.User{
			{ID: "nick", IsActive: true, IsStaff: true},
			{ID: "ghost", IsActive: false},
			{ID: "bob", IsActive: true},
		} {
			if err := e.PutUser(ctx, u, ""); err != nil {
				t.Fatal(err)
			}
		}
		seedAssignments(t, e, store.Assignment{User: "ins", Role: "instructor", Scope: mgScope})
	}})
}

// expect checks a response's status and error code ("" for a success).
func expectResp(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.ErrorCode(t); got != code {
			t.Fatalf("%s: code %q, want %q: %s", what, got, code, r.Body)
		}
	}
}

// stats returns the store's assignment and audit counts.
func (ts *testServer) stats() [2]int {
	ts.t.Helper()
	s, err := ts.Store.Stats(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	return [2]int{s.Assignments, s.AuditLength}
}

// unchanged fails when fn writes an assignment or an audit entry.
func (ts *testServer) unchanged(t *testing.T, what string, fn func()) {
	t.Helper()
	before := ts.stats()
	fn()
	if after := ts.stats(); after != before {
		t.Fatalf("%s wrote: (assignments, audit) %v -> %v", what, before, after)
	}
}

func (ts *testServer) holds(a store.Assignment) bool {
	found := false
	err := ts.Store.ForEachAssignment(context.Background(), store.AssignmentFilter(a), func(store.Assignment) error {
		found = true
		return nil
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return found
}

func roleReq(user, role, sc, caller string) map[string]any {
	m := map[string]any{"user": user, "role": role, "scope": sc}
	if caller != "" {
		m["caller"] = caller
	}
	return m
}

func TestUsers(t *testing.T) {
	ts := startManaged(t)
	r := ts.do("PUT", "/v1/users/peter", map[string]any{"email": "p@example.org", "is_staff": false, "attributes": map[string]any{"can_upload": true}}, adminToken)
	expectResp(t, "put", r, 200, "")
	var u store.User
	if err := json.Unmarshal(r.Body, &u); err != nil || u.ID != "peter" || !u.IsActive || u.Email != "p@example.org" || u.Attributes["can_upload"] != true {
		t.Fatalf("put returned %s (%v): is_active must default to true", r.Body, err)
	}
	expectResp(t, "put inactive", ts.do("PUT", "/v1/users/peter", `{"is_active":false}`, adminToken), 200, "")
	r = ts.do("GET", "/v1/users/peter", nil, manageToken)
	expectResp(t, "get", r, 200, "")
	if m := r.JSON(t); m["is_active"] != false || m["email"] != nil {
		t.Fatalf("a PUT replaces the user: %s", r.Body)
	}
	expectResp(t, "get unknown", ts.do("GET", "/v1/users/nobody", nil, adminToken), 404, server.CodeNotFound)
	for _, body := range []string{`{"is_staff":"yes"}`, `{"attributes":[1]}`, `{"email":5}`, `[]`, `{"is_active":`, ``} {
		r := ts.do("PUT", "/v1/users/peter", body, adminToken)
		expectResp(t, "put "+body, r, 400, server.CodeBadRequest)
	}
	r = ts.do("PUT", "/v1/users/peter", `{"is_staff":"yes"}`, adminToken)
	if !strings.Contains(string(r.Body), "is_staff") {
		t.Fatalf("the message should name the field: %s", r.Body)
	}
	expectResp(t, "no token", ts.do("PUT", "/v1/users/peter", `{}`, ""), 401, server.CodeUnauthorized)
	expectResp(t, "wrong token", ts.do("PUT", "/v1/users/peter", `{}`, "nope"), 401, server.CodeUnauthorized)
	expectResp(t, "decide token", ts.do("GET", "/v1/users/peter", nil, decideToken), 403, server.CodeForbidden)
	ts.unchanged(t, "a manage token's system write", func() {
		expectResp(t, "manage put", ts.do("PUT", "/v1/users/mallory", `{"is_staff":true}`, manageToken), 403, server.CodeForbidden)
		expectResp(t, "manage delete", ts.do("DELETE", "/v1/users/bob", nil, manageToken), 403, server.CodeForbidden)
	})
	expectResp(t, "the user was not written", ts.do("GET", "/v1/users/mallory", nil, adminToken), 404, server.CodeNotFound)
	expectResp(t, "put content type", ts.do("PUT", "/v1/users/peter", `{}`, adminToken, "Content-Type: text/plain"), 415, server.CodeUnsupportedMedia)
	expectResp(t, "NUL id", ts.do("PUT", "/v1/users/a%00b", `{}`, adminToken), 400, server.CodeBadRequest)
}

// TestDeleteLastInstructor: revoking a course's last direct instructor is
// refused with and without caller; deleting that user is allowed and audited.
func TestDeleteLastInstructor(t *testing.T) {
	ts := startManaged(t)
	a := store.Assignment{User: "ins", Role: "instructor", Scope: mgScope}
	ts.unchanged(t, "last instructor revokes", func() {
		for _, caller := range []string{"", "ins", "nick"} {
			r := ts.do("POST", "/v1/roles/revoke", roleReq(a.User, a.Role, a.Scope, caller), adminToken)
			expectResp(t, "revoke last instructor, caller "+caller, r, 403, server.CodeLastInstructor)
		}
	})
	expectResp(t, "grant staff", ts.do("POST", "/v1/roles/grant", roleReq("ins", "staff", "org:Marvel", ""), adminToken), 201, "")
	expectResp(t, "delete", ts.do("DELETE", "/v1/users/ins", nil, adminToken), 200, "")
	if ts.holds(a) || ts.holds(store.Assignment{User: "ins", Role: "staff", Scope: "org:Marvel"}) {
		t.Fatal("the deleted user still holds roles")
	}
	r := ts.do("GET", "/v1/audit", nil, adminToken)
	entries := r.JSON(t)["entries"].([]any)
	last := entries[len(entries)-1].(map[string]any)
	if last["action"] != "user.delete" || last["target"] != "ins" || last["details"].(map[string]any)["assignments"] != 2.0 {
		t.Fatalf("last audit entry = %v", last)
	}
	expectResp(t, "delete again", ts.do("DELETE", "/v1/users/ins", nil, adminToken), 404, server.CodeNotFound)
}

func TestResources(t *testing.T) {
	ts := startManaged(t)
	escaped := strings.NewReplacer(":", "%3A", "+", "%2B").Replace(mgCourse)
	paths := map[string]string{
		"plain":   "/v1/resources/course/" + mgCourse,
		"escaped": "/v1/resources/course/" + escaped,
		"mixed":   "/v1/resources/course/" + strings.ReplaceAll(mgCourse, ":", "%3A"),
		"path":    "/v1/resources/course/" + url.PathEscape(mgCourse),
	}
	for name, put := range paths {
		props := map[string]any{"forum_posts_allowed": false, "form": name}
		r := ts.do("PUT", put, map[string]any{"properties": props}, adminToken)
		expectResp(t, "put "+name, r, 200, "")
		for other, get := range paths {
			r := ts.do("GET", get, nil, manageToken)
			expectResp(t, "get "+other, r, 200, "")
			m := r.JSON(t)
			if m["id"] != mgCourse || m["type"] != "course" || m["properties"].(map[string]any)["form"] != name {
				t.Fatalf("put %s, get %s: %s", name, other, r.Body)
			}
		}
	}
	for _, body := range []string{`{"properties":[1]}`, `{"properties":"x"}`, `{"properties":null}`, `{}`, `{"properties":{"a":}}`} {
		expectResp(t, "put "+body, ts.do("PUT", paths["plain"], body, adminToken), 400, server.CodeBadRequest)
	}
	expectResp(t, "manage put", ts.do("PUT", paths["plain"], `{"properties":{}}`, manageToken), 403, server.CodeForbidden)
	expectResp(t, "manage delete", ts.do("DELETE", paths["escaped"], nil, manageToken), 403, server.CodeForbidden)
	expectResp(t, "delete", ts.do("DELETE", paths["escaped"], nil, adminToken), 200, "")
	expectResp(t, "get deleted", ts.do("GET", paths["plain"], nil, adminToken), 404, server.CodeNotFound)
	expectResp(t, "delete deleted", ts.do("DELETE", paths["mixed"], nil, adminToken), 404, server.CodeNotFound)
}

func TestGrantRevoke(t *testing.T) {
	ts := startManaged(t)
	staff := roleReq("bob", "staff", mgScope, "ins")
	expectResp(t, "grant", ts.do("POST", "/v1/roles/grant", staff, manageToken), 201, "")
	r := ts.do("POST", "/v1/roles/grant", staff, manageToken)
	expectResp(t, "grant again", r, 200, "")
	if m := r.JSON(t); len(m) != 3 || m["user"] != "bob" || m["role"] != "staff" || m["scope"] != mgScope {
		t.Fatalf("grant answered %s", r.Body)
	}
	expectResp(t, "system grant", ts.do("POST", "/v1/roles/grant", roleReq("bob", "beta_tester", mgScope, ""), adminToken), 201, "")
	expectResp(t, "revoke", ts.do("POST", "/v1/roles/revoke", staff, manageToken), 200, "")
	if ts.holds(store.Assignment{User: "bob", Role: "staff", Scope: mgScope}) {
		t.Fatal("revoked role still held")
	}
	expectResp(t, "revoke not held", ts.do("POST", "/v1/roles/revoke", staff, manageToken), 200, "")
	expectResp(t, "own revoke", ts.do("POST", "/v1/roles/revoke", roleReq("bob", "beta_tester", mgScope, "bob"), manageToken), 200, "")

	ts.unchanged(t, "rejected grants", func() {
		bad := []struct {
			name   string
			body   any
			token  string
			status int
			code   string
		}{
			{"unknown role", roleReq("bob", "wizard", mgScope, "ins"), manageToken, 400, server.CodeBadRequest},
			{"role at the wrong scope", roleReq("bob", "limited_staff", "org:Marvel", ""), adminToken, 400, server.CodeBadRequest},
			{"bad scope", roleReq("bob", "staff", "planet:earth", "ins"), manageToken, 400, server.CodeBadRequest},
			{"malformed course key", roleReq("bob", "staff", "course:CS101", "ins"), manageToken, 400, server.CodeBadRequest},
			{"missing user", map[string]any{"role": "staff", "scope": mgScope}, adminToken, 400, server.CodeBadRequest},
			{"missing everything", `{}`, adminToken, 400, server.CodeBadRequest},
			{"wrong type", `{"user":42,"role":"staff","scope":"` + mgScope + `"}`, adminToken, 400, server.CodeBadRequest},
			{"not an object", `["bob"]`, adminToken, 400, server.CodeBadRequest},
			{"manage token without caller", roleReq("bob", "staff", mgScope, ""), manageToken, 403, server.CodeForbidden},
			{"caller without authority", roleReq("bob", "instructor", mgScope, "bob"), manageToken, 403, server.CodeForbidden},
			{"org role by an instructor", roleReq("bob", "staff", "org:Marvel", "ins"), manageToken, 403, server.CodeForbidden},
			{"course_creator by an instructor", roleReq("bob", "course_creator", "global", "ins"), manageToken, 403, server.CodeForbidden},
			{"inactive target", roleReq("ghost", "staff", mgScope, "ins"), manageToken, 409, server.CodeInactiveUser},
			{"inactive target, system", roleReq("ghost", "staff", mgScope, ""), adminToken, 409, server.CodeInactiveUser},
			{"inactive caller", roleReq("bob", "staff", mgScope, "ghost"), manageToken, 403, server.CodeForbidden},
			{"decide token", staff, decideToken, 403, server.CodeForbidden},
		}
		for _, tt := range bad {
			expectResp(t, tt.name, ts.do("POST", "/v1/roles/grant", tt.body, tt.token), tt.status, tt.code)
		}
		r := ts.do("POST", "/v1/roles/grant", `{"user":42}`, adminToken)
		if !strings.Contains(string(r.Body), "user") || !strings.Contains(string(r.Body), "string") {
			t.Fatalf("a wrong type should be named: %s", r.Body)
		}
		r = ts.do("POST", "/v1/roles/grant", map[string]any{"user": "bob"}, adminToken)
		if !strings.Contains(string(r.Body), "role, scope") {
			t.Fatalf("missing fields should be named: %s", r.Body)
		}
	})
}

// TestGrantCheckOrder checks 413, 401, 400, 403, 409 in that order.
func TestGrantCheckOrder(t *testing.T) {
	ts := startManaged(t)
	big := `{"user":"bob","role":"wizard","scope":"x","pad":"` + strings.Repeat("x", server.MaxBody) + `"}`
	invalid := roleReq("ghost", "wizard", mgScope, "bob")
	ts.unchanged(t, "check order", func() {
		expectResp(t, "too large and unauthorized", ts.do("POST", "/v1/roles/grant", big, ""), 413, server.CodeTooLarge)
		expectResp(t, "too large, chunked", ts.chunked("POST", "/v1/roles/grant", big, adminToken), 413, server.CodeTooLarge)
		expectResp(t, "unauthorized and invalid", ts.do("POST", "/v1/roles/grant", invalid, ""), 401, server.CodeUnauthorized)
		expectResp(t, "invalid and forbidden caller", ts.do("POST", "/v1/roles/grant", invalid, manageToken), 400, server.CodeBadRequest)
		expectResp(t, "invalid and no caller on a manage token", ts.do("POST", "/v1/roles/grant", roleReq("ghost", "staff", "bad", ""), manageToken), 400, server.CodeBadRequest)
		expectResp(t, "forbidden and inactive", ts.do("POST", "/v1/roles/grant", roleReq("ghost", "staff", mgScope, "bob"), manageToken), 403, server.CodeForbidden)
		expectResp(t, "no caller on a manage token and inactive", ts.do("POST", "/v1/roles/grant", roleReq("ghost", "staff", mgScope, ""), manageToken), 403, server.CodeForbidden)
		expectResp(t, "inactive", ts.do("POST", "/v1/roles/grant", roleReq("ghost", "staff", mgScope, "nick"), manageToken), 409, server.CodeInactiveUser)
	})
	// Just at the limit is not too large.
	exact := `{"user":"bob","role":"staff","scope":"` + mgScope + `","pad":"`
	exact += strings.Repeat("x", server.MaxBody-len(exact)-2) + `"}`
	expectResp(t, "exactly 1 MiB", ts.do("POST", "/v1/roles/grant", exact, adminToken), 201, "")
	expectResp(t, "1 MiB + 1", ts.do("PUT", "/v1/users/bob", exact+" ", adminToken), 413, server.CodeTooLarge)
}

// chunked sends body without a Content-Length.
func (ts *testServer) chunked(method, path, body, token string) response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func TestOrgRoles(t *testing.T) {
	ts := startManaged(t)
	put := func(orgs []string, caller, token string) response {
		body := map[string]any{"orgs": orgs}
		if caller != "" {
			body["caller"] = caller
		}
		return ts.do("PUT", "/v1/users/bob/org-roles/instructor", body, token)
	}
	r := put([]string{"Marvel", "DC"}, "", adminToken)
	expectResp(t, "set", r, 200, "")
	if got := fmt.Sprint(r.JSON(t)["orgs"]); got != "[DC Marvel]" {
		t.Fatalf("orgs = %s", r.Body)
	}
	r = put([]string{"DC", "Wayne", "Wayne"}, "nick", manageToken)
	expectResp(t, "replace", r, 200, "")
	if got := fmt.Sprint(r.JSON(t)["orgs"]); got != "[DC Wayne]" {
		t.Fatalf("orgs = %s", r.Body)
	}
	if ts.holds(store.Assignment{User: "bob", Role: "instructor", Scope: "org:Marvel"}) {
		t.Fatal("Marvel was not revoked")
	}
	ts.unchanged(t, "rejected org roles", func() {
		expectResp(t, "manage without caller", put([]string{"Marvel"}, "", manageToken), 403, server.CodeForbidden)
		expectResp(t, "caller without authority", put([]string{"Marvel"}, "ins", manageToken), 403, server.CodeForbidden)
		expectResp(t, "bad org", put([]string{"Mar vel"}, "nick", manageToken), 400, server.CodeBadRequest)
		expectResp(t, "bad org before authority", put([]string{"Mar vel"}, "", manageToken), 400, server.CodeBadRequest)
		expectResp(t, "not an org role", ts.do("PUT", "/v1/users/bob/org-roles/limited_staff", `{"orgs":[]}`, adminToken), 400, server.CodeBadRequest)
		expectResp(t, "missing orgs", ts.do("PUT", "/v1/users/bob/org-roles/instructor", `{"caller":"nick"}`, manageToken), 400, server.CodeBadRequest)
		expectResp(t, "orgs not a list", ts.do("PUT", "/v1/users/bob/org-roles/instructor", `{"orgs":"DC"}`, adminToken), 400, server.CodeBadRequest)
		expectResp(t, "inactive", ts.do("PUT", "/v1/users/ghost/org-roles/staff", `{"orgs":["DC"]}`, adminToken), 409, server.CodeInactiveUser)
	})
	r = put([]string{}, "", adminToken)
	expectResp(t, "clear", r, 200, "")
	if got := fmt.Sprint(r.JSON(t)["orgs"]); got != "[]" {
		t.Fatalf("orgs = %s", r.Body)
	}
}

func TestListRoles(t *testing.T) {
	ts := startManaged(t)
	for _, a := range []store.Assignment{
		{User: "bob", Role: "staff", Scope: mgScope},
		{User: "bob", Role: "beta_tester", Scope: mgScope},
		{User: "bob", Role: "instructor", Scope: "org:DC"},
		{User: "amy", Role: "staff", Scope: "org:Marvel"},
		{User: "zed", Role: "staff", Scope: mgScope},
	} {
		expectResp(t, "grant", ts.do("POST", "/v1/roles/grant", roleReq(a.User, a.Role, a.Scope, ""), adminToken), 201, "")
	}
	type page struct {
		Assignments []store.Assignment `json:"assignments"`
		Next        string             `json:"next_page_token"`
	}
	list := func(query string) page {
		t.Helper()
		r := ts.do("GET", "/v1/roles?"+query, nil, manageToken)
		expectResp(t, query, r, 200, "")
		var p page
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Assignments == nil {
			t.Fatalf("%s: %s", query, r.Body)
		}
		return p
	}
	all := list("")
	if len(all.Assignments) != 6 || all.Next != "" {
		t.Fatalf("all = %+v", all)
	}
	var paged []store.Assignment
	for tok, n := "", 0; ; n++ {
		p := list("limit=2&page_token=" + url.QueryEscape(tok))
		paged = append(paged, p.Assignments...)
		if p.Next == "" {
			break
		}
		if len(p.Assignments) != 2 || n > 5 {
			t.Fatalf("page %d = %+v", n, p)
		}
		tok = p.Next
	}
	if !slices.Equal(paged, all.Assignments) {
		t.Fatalf("pages %v != all %v", paged, all.Assignments)
	}
	if !slices.IsSortedFunc(all.Assignments, func(a, b store.Assignment) int {
		return strings.Compare(a.User+"\x00"+a.Scope+"\x00"+a.Role, b.User+"\x00"+b.Scope+"\x00"+b.Role)
	}) {
		t.Fatalf("not ordered by (user, scope, role): %v", all.Assignments)
	}
	if p := list("user=bob"); len(p.Assignments) != 3 {
		t.Fatalf("user=bob: %+v", p)
	}
	if p := list("role=staff&scope=" + url.QueryEscape(mgScope)); len(p.Assignments) != 2 || p.Assignments[0].User != "bob" || p.Assignments[1].User != "zed" {
		t.Fatalf("staff of CS101: %+v", p)
	}
	if p := list("user=nobody"); len(p.Assignments) != 0 || p.Next != "" {
		t.Fatalf("nobody: %+v", p)
	}
	for _, q := range []string{"page_token=garbage", "page_token=cDE", "limit=0", "limit=x", "limit=1001", "limit=-1"} {
		expectResp(t, q, ts.do("GET", "/v1/roles?"+q, nil, manageToken), 400, server.CodeBadRequest)
	}
	expectResp(t, "no token", ts.do("GET", "/v1/roles", nil, ""), 401, server.CodeUnauthorized)
}

func TestAudit(t *testing.T) {
	ts := startManaged(t)
	type entry struct {
		Time    time.Time      `json:"time"`
		Caller  string         `json:"caller"`
		Action  string         `json:"action"`
		Target  string         `json:"target"`
		Details map[string]any `json:"details"`
	}
	list := func(query string) []entry {
		t.Helper()
		r := ts.do("GET", "/v1/audit?"+query, nil, manageToken)
		expectResp(t, query, r, 200, "")
		var body struct {
			Entries []entry `json:"entries"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.Entries == nil {
			t.Fatalf("%s: %s", query, r.Body)
		}
		return body.Entries
	}
	start := list("")
	time.Sleep(2 * time.Millisecond)
	expectResp(t, "grant", ts.do("POST", "/v1/roles/grant", roleReq("bob", "staff", mgScope, "ins"), manageToken), 201, "")
	time.Sleep(2 * time.Millisecond)
	expectResp(t, "revoke", ts.do("POST", "/v1/roles/revoke", roleReq("bob", "staff", mgScope, "ins"), manageToken), 200, "")
	all := list("")
	if len(all) != len(start)+2 {
		t.Fatalf("entries %d, want %d", len(all), len(start)+2)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatalf("not oldest first: %v", all)
		}
	}
	g := all[len(all)-2]
	if g.Action != "role.grant" || g.Caller != "ins" || g.Target != "bob" || g.Details["role"] != "staff" || g.Details["scope"] != mgScope {
		t.Fatalf("grant entry = %+v", g)
	}
	since := list("since=" + url.QueryEscape(g.Time.Format(time.RFC3339Nano)))
	if len(since) != 1 || since[0].Action != "role.revoke" {
		t.Fatalf("since the grant: %+v", since)
	}
	if got := list("limit=1"); len(got) != 1 || got[0].Action != all[0].Action || !got[0].Time.Equal(all[0].Time) {
		t.Fatalf("limit=1: %+v", got)
	}
	if got := list("since=2999-01-01T00:00:00Z"); len(got) != 0 {
		t.Fatalf("future since: %+v", got)
	}
	for _, q := range []string{"since=yesterday", "since=2026-01-02", "limit=0", "limit=x", "limit=100000"} {
		expectResp(t, q, ts.do("GET", "/v1/audit?"+q, nil, manageToken), 400, server.CodeBadRequest)
	}
}

func TestImport(t *testing.T) {
	ts := startManaged(t)
	csv := "user_id,org,course_id,role\n" +
		"u1,Marvel," + mgCourse + ",staff\n" + // line 2
		"u2,Marvel," + mgCourse + ",wizard\n" + // line 3: unknown role
		"u3,Marvel,CS101,staff\n" + // line 4: malformed key
		"u4,DC,,instructor\n" + // line 5
		"u5,,,course_creator_group\n" + // line 6
		"u6,Marvel\n" // line 7: short row
	r := ts.do("POST", "/v1/import/course-access-roles", csv, adminToken, "Content-Type: text/csv")
	expectResp(t, "import", r, 200, "")
	var res struct {
		Loaded   int `json:"loaded"`
		Rejected []struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		} `json:"rejected"`
		RejectedTotal int `json:"rejected_total"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, rj := range res.Rejected {
		lines = append(lines, rj.Line)
	}
	if res.Loaded != 3 || !slices.Equal(lines, []int{3, 4, 7}) || res.RejectedTotal != 3 || !strings.Contains(res.Rejected[0].Reason, "wizard") {
		t.Fatalf("import = %s", r.Body)
	}
	for _, a := range []store.Assignment{{User: "u1", Role: "staff", Scope: mgScope}, {User: "u4", Role: "instructor", Scope: "org:DC"}, {User: "u5", Role: "course_creator", Scope: "global"}} {
		if !ts.holds(a) {
			t.Fatalf("%v not imported", a)
		}
	}
	ts.unchanged(t, "rejected imports", func() {
		expectResp(t, "bad header", ts.do("POST", "/v1/import/course-access-roles", "user,role\nu1,staff\n", adminToken, "Content-Type: text/csv"), 400, server.CodeBadRequest)
		expectResp(t, "empty", ts.do("POST", "/v1/import/course-access-roles", "", adminToken, "Content-Type: text/csv"), 400, server.CodeBadRequest)
		expectResp(t, "manage token", ts.do("POST", "/v1/import/course-access-roles", csv, manageToken, "Content-Type: text/csv"), 403, server.CodeForbidden)
		expectResp(t, "no token", ts.do("POST", "/v1/import/course-access-roles", csv, "", "Content-Type: text/csv"), 401, server.CodeUnauthorized)
		expectResp(t, "JSON", ts.do("POST", "/v1/import/course-access-roles", `{}`, adminToken), 415, server.CodeUnsupportedMedia)
	})
	// The import is exempt from the 1 MiB limit.
	var b strings.Builder
	b.WriteString("user_id,org,course_id,role\n")
	n := 0
	for ; b.Len() <= server.MaxBody+1000; n++ {
		fmt.Fprintf(&b, "%s-%d,Marvel,%s,beta_testers\n", strings.Repeat("u", 1000), n, mgCourse)
	}
	r = ts.do("POST", "/v1/import/course-access-roles", b.String(), adminToken, "Content-Type: text/csv")
	expectResp(t, "import over 1 MiB", r, 200, "")
	if m := r.JSON(t); m["loaded"] != float64(n) || m["rejected_total"] != 0.0 {
		t.Fatalf("big import loaded %v of %d: %.200s", m["loaded"], n, r.Body)
	}
}

func TestCourseCreators(t *testing.T) {
	ts := startManaged(t)
	ctx := context.Background()
	if err := ts.Engine.SetSettings(ctx, map[string]any{"ENABLE_CREATOR_GROUP": true}); err != nil {
		t.Fatal(err)
	}
	user := "spider+man:1" // ids may hold '+' and ':'
	path := "/v1/course-creators/" + url.PathEscape(user)
	record := func(r response) engine.CreatorRecord {
		t.Helper()
		var rec engine.CreatorRecord
		if err := json.Unmarshal(r.Body, &rec); err != nil || rec.Organizations == nil || rec.AllowedOrganizations == nil {
			t.Fatalf("record %s: %v", r.Body, err)
		}
		return rec
	}
	// DC is a known org: someone teaches there.
	expectResp(t, "grant", ts.do("POST", "/v1/roles/grant", roleReq("bruce", "instructor", "org:DC", ""), adminToken), 201, "")
	r := ts.do("GET", path, nil, manageToken)
	expectResp(t, "get", r, 200, "")
	if rec := record(r); rec.State != "unrequested" || len(rec.AllowedOrganizations) != 0 {
		t.Fatalf("fresh = %+v", rec)
	}
	// Requests: without a body with the admin token; with the user as caller.
	ts.unchanged(t, "a manage token's request without caller", func() {
		expectResp(t, "manage request", ts.do("POST", path+"/request", nil, manageToken), 403, server.CodeForbidden)
	})
	r = ts.do("POST", path+"/request", map[string]any{"caller": user}, manageToken)
	expectResp(t, "self request", r, 200, "")
	if rec := record(r); rec.State != "pending" {
		t.Fatalf("after request = %+v", rec)
	}
	expectResp(t, "admin request", ts.do("POST", "/v1/course-creators/bob/request", nil, adminToken), 200, "")
	expectResp(t, "request for another", ts.do("POST", path+"/request", map[string]any{"caller": "bob"}, manageToken), 403, server.CodeForbidden)

	ts.unchanged(t, "rejected course-creator writes", func() {
		for _, tt := range []struct {
			name, body, token string
			status            int
			code              string
		}{
			{"both", `{"state":"granted","all_organizations":true,"organizations":["Marvel"]}`, adminToken, 400, server.CodeBadRequest},
			{"neither", `{"state":"granted","caller":"nick"}`, manageToken, 400, server.CodeBadRequest},
			{"unknown state", `{"state":"maybe"}`, adminToken, 400, server.CodeBadRequest},
			{"missing state", `{}`, adminToken, 400, server.CodeBadRequest},
			{"wrong type", `{"state":"granted","all_organizations":"yes"}`, adminToken, 400, server.CodeBadRequest},
			{"orgs not a list", `{"state":"granted","organizations":"Marvel"}`, adminToken, 400, server.CodeBadRequest},
			{"manage token without caller", `{"state":"granted","organizations":["Marvel"]}`, manageToken, 403, server.CodeForbidden},
			{"caller without authority", `{"state":"granted","organizations":["Marvel"],"caller":"ins"}`, manageToken, 403, server.CodeForbidden},
			{"self grant", `{"state":"granted","all_organizations":true,"caller":"` + user + `"}`, manageToken, 403, server.CodeForbidden},
			{"deny without authority", `{"state":"denied","caller":"ins"}`, manageToken, 403, server.CodeForbidden},
			{"inactive", `{"state":"granted","all_organizations":true}`, adminToken, 409, server.CodeInactiveUser},
		} {
			p := path
			if tt.name == "inactive" {
				p = "/v1/course-creators/ghost"
			}
			expectResp(t, tt.name, ts.do("PUT", p, tt.body, tt.token), tt.status, tt.code)
		}
	})
	// Spiderman may create in Marvel, not DC.
	r = ts.do("PUT", path, map[string]any{"state": "granted", "organizations": []string{"Marvel"}, "caller": "nick"}, manageToken)
	expectResp(t, "grant Marvel", r, 200, "")
	rec := record(r)
	if rec.State != "granted" || rec.AllOrganizations || !slices.Equal(rec.Organizations, []string{"Marvel"}) || !slices.Equal(rec.AllowedOrganizations, []string{"Marvel"}) {
		t.Fatalf("granted in Marvel = %+v", rec)
	}
	for org, want := range map[string]bool{"Marvel": true, "DC": false} {
		d := ts.Engine.Decide(ctx, &engine.Request{Subject: engine.Entity{Type: "user", ID: user},
			Action: engine.Action{Name: "course.create"}, Resource: engine.Entity{Type: "org", ID: org}})
		if d.Allow != want {
			t.Fatalf("course.create in %s = %v, want %v", org, d.Allow, want)
		}
	}
	// The settings change allowed_organizations as they change course.create.
	for _, tt := range []struct {
		settings map[string]any
		want     []string
	}{
		{map[string]any{}, []string{"*"}},
		{map[string]any{"DISABLE_COURSE_CREATION": true}, []string{}},
		{map[string]any{"ENABLE_CREATOR_GROUP": true}, []string{"Marvel"}},
	} {
		if err := ts.Engine.SetSettings(ctx, tt.settings); err != nil {
			t.Fatal(err)
		}
		if got := record(ts.do("GET", path, nil, manageToken)).AllowedOrganizations; !slices.Equal(got, tt.want) {
			t.Fatalf("settings %v: allowed = %v, want %v", tt.settings, got, tt.want)
		}
	}
	if got := record(ts.do("GET", "/v1/course-creators/nick", nil, manageToken)); !slices.Equal(got.AllowedOrganizations, []string{"*"}) {
		t.Fatalf("global staff = %+v", got)
	}
	// All orgs, then denied: the roles go, the user is mailed.
	r = ts.do("PUT", path, `{"state":"granted","all_organizations":true}`, adminToken)
	if rec := record(r); !rec.AllOrganizations || len(rec.Organizations) != 0 || !slices.Equal(rec.AllowedOrganizations, []string{"*"}) {
		t.Fatalf("granted all = %s", r.Body)
	}
	r = ts.do("PUT", path, `{"state":"denied","caller":"nick"}`, manageToken)
	if rec := record(r); rec.State != "denied" || rec.AllOrganizations || len(rec.AllowedOrganizations) != 0 {
		t.Fatalf("denied = %s", r.Body)
	}
	r = ts.do("GET", "/v1/roles?user="+url.QueryEscape(user), nil, adminToken)
	if got := r.JSON(t)["assignments"].([]any); len(got) != 0 {
		t.Fatalf("denied user holds %v", got)
	}
	r = ts.do("GET", "/v1/audit?limit=1000", nil, adminToken)
	var mails []string
	for _, e := range r.JSON(t)["entries"].([]any) {
		e := e.(map[string]any)
		if a := e["action"].(string); strings.HasPrefix(a, "mail.") {
			mails = append(mails, a+">"+e["target"].(string))
		}
	}
	want := []string{
		"mail.course_creator_pending>nick", "mail.course_creator_pending>nick",
		"mail.course_creator_granted>" + user, "mail.course_creator_denied>" + user,
	}
	if !slices.Equal(mails, want) {
		t.Fatalf("mails = %v, want %v", mails, want)
	}
}

// TestImportOutlivesReadTimeout: a slow upload is not cut by the server's
// read timeout, which is meant for small bodies.
func TestImportOutlivesReadTimeout(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: server.Config{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}})
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprint(pw, "user_id,org,course_id,role\n")
		for i := range 4 {
			time.Sleep(200 * time.Millisecond)
			fmt.Fprintf(pw, "slow%d,Marvel,%s,staff\n", i, mgCourse)
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", ts.URL+"/v1/import/course-access-roles", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"loaded":4`) {
		t.Fatalf("slow import = %d %s", resp.StatusCode, body)
	}
}
