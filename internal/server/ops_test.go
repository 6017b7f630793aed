package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
)

// startMetrics starts the team server with metrics wired as provost serve
// wires them: the engine observes into m through an instrumented store.
func startMetrics(t *testing.T, cfg server.Config) (*testServer, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(metrics.Options{})
	cfg.Metrics = m
	ts := startServer(t, serverOpts{cfg: cfg, seed: seedTeam(t), engineOpts: func(o *engine.Options) {
		o.Store = m.InstrumentStore(o.Store)
		o.Observe = m.Observer()
		o.OnReload = m.ReloadObserver()
	}})
	return ts, m
}

// scrape reads GET /metrics and parses it.
func scrape(t *testing.T, ts *testServer) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	r := ts.do("GET", "/metrics", nil, "")
	if r.Status != 200 {
		t.Fatalf("GET /metrics = %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs, r.Body
}

// sample returns the value of the series of family name whose labels
// include the name=value pairs given (a histogram's sample count); ok is
// false when there is none.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsAfterTraffic drives known traffic through a real server and
// reads every metric of the issue back from GET /metrics.
func TestMetricsAfterTraffic(t *testing.T) {
	ts, _ := startMetrics(t, server.Config{})
	const allows, denies = 3, 2
	for range allows {
		if r := ts.do("POST", "/access/v1/evaluation", eval("alice", "studio.edit_content", "course", cs101), ""); !bytes.Contains(r.Body, []byte(`"decision":true`)) {
			t.Fatalf("allow: %d %s", r.Status, r.Body)
		}
	}
	for range denies {
		if r := ts.do("POST", "/access/v1/evaluation", eval("sybil", "studio.edit_content", "course", cs101), ""); !bytes.Contains(r.Body, []byte(`"decision":false`)) {
			t.Fatalf("deny: %d %s", r.Status, r.Body)
		}
	}
	if r := ts.do("POST", "/access/v1/evaluation", eval("alice", "studio.teleport-x9", "course", cs101), ""); r.Status != 200 {
		t.Fatalf("unknown action: %d %s", r.Status, r.Body)
	}
	if r := ts.do("GET", "/nowhere/secret-user-77", nil, ""); r.Status != 404 {
		t.Fatalf("unknown path: %d", r.Status)
	}
	before, _ := scrape(t, ts)
	writesBefore, _ := sample(before, "provost_store_write_duration_seconds")
	if r := ts.do("PUT", "/v1/users/carol-42", map[string]any{"email": "carol@example.com", "is_active": true}, adminToken); r.Status != 200 {
		t.Fatalf("put user: %d %s", r.Status, r.Body)
	}
	if r := ts.do("GET", "/v1/users/carol-42", nil, adminToken); r.Status != 200 {
		t.Fatalf("get user: %d %s", r.Status, r.Body)
	}

	mfs, raw := scrape(t, ts)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"provost_decisions_total", []string{"action", "studio.edit_content", "decision", "allow"}, allows},
		{"provost_decisions_total", []string{"action", "studio.edit_content", "decision", "deny"}, denies},
		{"provost_decisions_total", []string{"action", "other", "decision", "deny"}, 1},
		{"provost_decision_duration_seconds", nil, allows + denies + 1},
		{"provost_decision_errors_total", nil, 0},
		{"provost_policy_reloads_total", []string{"result", "success"}, 0},
		{"provost_policy_reloads_total", []string{"result", "failure"}, 0},
		{"provost_policy_revision_info", []string{"pack", "openedx", "revision", ts.Engine.Revision()}, 1},
		{"provost_http_requests_total", []string{"route", "/access/v1/evaluation", "code", "200"}, allows + denies + 1},
		{"provost_http_request_duration_seconds", []string{"route", "/access/v1/evaluation"}, allows + denies + 1},
		{"provost_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"provost_http_requests_total", []string{"route", "/v1/users/:id", "code", "200"}, 2},
		{"provost_http_requests_total", []string{"route", "/metrics", "code", "200"}, 1},
		{"provost_store_write_duration_seconds", nil, writesBefore + 1},
		{"provost_store_write_errors_total", nil, 0},
		{"provost_store_assignments", nil, 1 + float64(len(teamStaff))},
		{"provost_store_resources", nil, 2},
		{"provost_plugin_up", []string{"plugin", "enrollment"}, 0},
		{"provost_plugin_up", []string{"plugin", "mail"}, 0},
		{"provost_plugin_up", []string{"plugin", "reports"}, 0},
		{"provost_plugin_restarts_total", []string{"plugin", "enrollment"}, 0},
		{"provost_plugin_restarts_total", []string{"plugin", "mail"}, 0},
		{"provost_plugin_restarts_total", []string{"plugin", "reports"}, 0},
		{"provost_mail_outbox_messages", []string{"status", "queued"}, 0},
	} {
		if v, ok := sample(mfs, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if writesBefore < 1 {
		t.Errorf("the seed's writes were not timed: %v", writesBefore)
	}
	for _, name := range []string{"provost_store_users", "provost_store_audit_entries", "provost_store_size_bytes",
		"go_goroutines", "process_resident_memory_bytes"} {
		if v, ok := sample(mfs, name); !ok || v <= 0 {
			t.Errorf("%s = %v (found %v)", name, v, ok)
		}
	}
	// Route templates only: no raw path, user id or unknown action as a label.
	for _, bad := range []string{"secret-user-77", "carol-42", "studio.teleport-x9", "/nowhere"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("/metrics contains %q", bad)
		}
	}
	for _, m := range mfs["provost_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() != metrics.UnmatchedRoute && !ts.routeKnown(l.GetValue()) {
				t.Errorf("route label %q is not a route template", l.GetValue())
			}
		}
	}

	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// routeKnown reports whether path is a registered route template.
func (ts *testServer) routeKnown(path string) bool {
	for _, r := range ts.Server.Routes() {
		if _, p, _ := strings.Cut(r, " "); p == path {
			return true
		}
	}
	return false
}

func TestMetricsOff(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r := ts.do("GET", "/metrics", nil, "")
	if r.Status != 404 || r.ErrorCode(t) != server.CodeNotFound {
		t.Fatalf("GET /metrics without metrics = %d %s", r.Status, r.Body)
	}
}

// TestMetricsCountErrors checks that the middleware sees the status an
// abort (401) or the 405 handler leaves.
func TestMetricsCountErrors(t *testing.T) {
	ts, _ := startMetrics(t, server.Config{})
	ts.do("GET", "/v1/audit", nil, "")                // 401
	ts.do("DELETE", "/access/v1/evaluation", nil, "") // 405
	mfs, _ := scrape(t, ts)
	if v, _ := sample(mfs, "provost_http_requests_total", "route", "/v1/audit", "code", "401"); v != 1 {
		t.Errorf("401 on /v1/audit = %v, want 1", v)
	}
	if v, _ := sample(mfs, "provost_http_requests_total", "route", "unmatched", "code", "405"); v != 1 {
		t.Errorf("405 = %v, want 1", v)
	}
}

func TestReadyz(t *testing.T) {
	var notReady error
	ts, _ := startMetrics(t, server.Config{Ready: func() error { return notReady }})
	r := ts.do("GET", "/readyz", nil, "")
	if r.Status != 200 || r.JSON(t)["status"] != "ready" {
		t.Fatalf("readyz = %d %s", r.Status, r.Body)
	}
	notReady = errors.New("plugin mail is down")
	r = ts.do("GET", "/readyz", nil, "")
	if r.Status != 503 || r.ErrorCode(t) != server.CodeNotReady || !strings.Contains(string(r.Body), "plugin mail is down") {
		t.Fatalf("readyz with a plugin down = %d %s", r.Status, r.Body)
	}
	notReady = nil
	if err := ts.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r = ts.do("GET", "/readyz", nil, "")
	if r.Status != 503 || r.ErrorCode(t) != server.CodeNotReady || !strings.Contains(string(r.Body), "store") {
		t.Fatalf("readyz with the store closed = %d %s", r.Status, r.Body)
	}
	if r := ts.do("GET", "/healthz", nil, ""); r.Status != 200 {
		t.Fatalf("healthz while not ready = %d", r.Status)
	}
}

func TestStatus(t *testing.T) {
	plugins := []server.PluginStatus{{Name: "enrollment", Up: true}, {Name: "mail", Up: false, Restarts: 2}}
	ts, _ := startMetrics(t, server.Config{Plugins: func() []server.PluginStatus { return plugins }})
	if r := ts.do("GET", "/v1/status", nil, ""); r.Status != 401 {
		t.Fatalf("status without a token = %d", r.Status)
	}
	r := ts.do("GET", "/v1/status", nil, adminToken)
	if r.Status != 200 {
		t.Fatalf("status = %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	for _, k := range []string{"pack", "revision", "loaded_at", "last_reload", "plugins", "counts"} {
		if _, ok := body[k]; !ok {
			t.Errorf("status lacks %q: %s", k, r.Body)
		}
	}
	if body["pack"] != "openedx" || body["revision"] != ts.Engine.Revision() {
		t.Errorf("pack, revision = %v, %v", body["pack"], body["revision"])
	}
	loaded, err := time.Parse(time.RFC3339Nano, body["loaded_at"].(string))
	if err != nil || time.Since(loaded) > time.Minute {
		t.Errorf("loaded_at = %v (%v)", body["loaded_at"], err)
	}
	lr := body["last_reload"].(map[string]any)
	if lr["result"] != engine.ReloadSuccess || lr["error"] != "" || lr["at"] != body["loaded_at"] {
		t.Errorf("last_reload before any reload = %v", lr)
	}
	ps := body["plugins"].([]any)
	if len(ps) != 2 || ps[1].(map[string]any)["name"] != "mail" || ps[1].(map[string]any)["restarts"] != 2.0 || ps[1].(map[string]any)["up"] != false {
		t.Errorf("plugins = %v", ps)
	}
	st, err := ts.Store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := body["counts"].(map[string]any)
	want := map[string]float64{
		"users": float64(st.Users), "assignments": 1 + float64(len(teamStaff)), "resources": 2,
		"audit_entries": float64(st.AuditLength), "store_bytes": float64(st.FileBytes),
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("counts[%s] = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}
	if st.Users < 2 || st.AuditLength == 0 {
		t.Errorf("store stats = %+v", st)
	}
	seedAssignments(t, ts.Engine, store.Assignment{User: "sybil", Role: "staff", Scope: "course:" + phy201})
	r = ts.do("GET", "/v1/status", nil, adminToken)
	if got := r.JSON(t)["counts"].(map[string]any)["assignments"]; got != 2.0+float64(len(teamStaff)) {
		t.Errorf("assignments after a grant = %v", got)
	}

	// Without a Plugins source, plugins is an empty list, not null.
	ts2 := startServer(t, serverOpts{})
	if ps := ts2.do("GET", "/v1/status", nil, adminToken).JSON(t)["plugins"]; ps == nil || len(ps.([]any)) != 0 {
		t.Errorf("plugins without a source = %v", ps)
	}
}

// TestReloadMetricsAndStatus reloads a copy of the policy, once good and
// once broken, and reads the result from /metrics and /v1/status.
func TestReloadMetricsAndStatus(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.conf"), must(os.ReadFile(filepath.Join(policyDir, "model.conf"))), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"policies", "rego"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(policyDir, sub))); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New(metrics.Options{})
	ts := startServer(t, serverOpts{policyDir: dir, cfg: server.Config{Metrics: m}, engineOpts: func(o *engine.Options) {
		o.Observe = m.Observer()
		o.OnReload = m.ReloadObserver()
	}})
	ctx := context.Background()
	if err := ts.Engine.Reload(ctx); err != nil {
		t.Fatalf("reload of an unchanged pack: %v", err)
	}
	broken := filepath.Join(dir, "rego", "openedx", "studio.rego")
	if err := os.WriteFile(broken, []byte("package openedx\n\nallow contains x if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.Engine.Reload(ctx); err == nil {
		t.Fatal("reload of a broken pack succeeded")
	}
	mfs, _ := scrape(t, ts)
	for result, want := range map[string]float64{"success": 1, "failure": 1} {
		if v, _ := sample(mfs, "provost_policy_reloads_total", "result", result); v != want {
			t.Errorf("policy_reloads_total{%s} = %v, want %v", result, v, want)
		}
	}
	if v, ok := sample(mfs, "provost_policy_revision_info", "revision", ts.Engine.Revision()); !ok || v != 1 {
		t.Errorf("revision_info of the revision still serving = %v, %v", v, ok)
	}
	lr := ts.do("GET", "/v1/status", nil, adminToken).JSON(t)["last_reload"].(map[string]any)
	if lr["result"] != engine.ReloadFailure || !strings.Contains(lr["error"].(string), "studio.rego") {
		t.Errorf("last_reload after a broken reload = %v", lr)
	}
	if r := ts.do("GET", "/readyz", nil, ""); r.Status != 200 {
		t.Errorf("readyz with the last good policy serving = %d %s", r.Status, r.Body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
