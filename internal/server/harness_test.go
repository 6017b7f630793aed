package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// policyDir is the repository root: model.conf, policies/, rego/.
var policyDir = filepath.Join("..", "..")

const adminToken = "test-admin-secret"

// testServer is a real Provost server on 127.0.0.1:0 over a real bbolt file.
type testServer struct {
	URL    string
	Engine *engine.Engine
	Store  *boltstore.Store
	Server *server.Server
	t      testing.TB
}

type serverOpts struct {
	pack      string
	policyDir string
	cfg       server.Config // Addr, AdminToken and Logger are filled in when empty
	seed      func(e *engine.Engine)
	// engineOpts, when set, adjusts the engine's options before it opens
	// (Observe, OnReload, an instrumented Store).
	engineOpts func(*engine.Options)
}

// startServer starts a server and stops it when the test ends.
func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	if o.pack == "" {
		o.pack = "openedx"
	}
	if o.policyDir == "" {
		o.policyDir = policyDir
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eo := engine.Options{Store: st, PolicyDir: o.policyDir, Pack: o.pack}
	if o.engineOpts != nil {
		o.engineOpts(&eo)
	}
	e, err := engine.Open(context.Background(), eo)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	if o.seed != nil {
		o.seed(e)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.cfg
	if cfg.Addr == "" {
		cfg.Addr = ln.Addr().String()
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = adminToken
	}
	srv := server.New(cfg, e, st)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return &testServer{URL: "http://" + ln.Addr().String(), Engine: e, Store: st, Server: srv, t: t}
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// ErrorCode returns error.code of an error body.
func (r response) ErrorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// do sends a request. body may be nil, a string, []byte or a value to
// encode as JSON. headers are "Name: value" strings; token "" sends none.
func (ts *testServer) do(method, path string, body any, token string, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// seedAssignments grants assignments as system changes.
func seedAssignments(t testing.TB, e *engine.Engine, as ...store.Assignment) {
	t.Helper()
	for _, a := range as {
		if _, err := e.Grant(context.Background(), a, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHarness(t *testing.T) {
	ts := startServer(t, serverOpts{})
	if r := ts.do("GET", "/healthz", nil, ""); r.Status != 200 {
		t.Fatalf("healthz = %d %s", r.Status, r.Body)
	}
	r := ts.do("GET", "/nowhere", nil, "")
	if r.Status != 404 || r.ErrorCode(t) != server.CodeNotFound {
		t.Fatalf("unknown route = %d %s", r.Status, r.Body)
	}
	r = ts.do("GET", "/v1/audit", nil, "")
	if r.Status != 401 || r.ErrorCode(t) != server.CodeUnauthorized {
		t.Fatalf("no token = %d %s", r.Status, r.Body)
	}
	r = ts.do("GET", "/v1/audit", nil, "wrong")
	if r.Status != 401 {
		t.Fatalf("wrong token = %d %s", r.Status, r.Body)
	}
}
