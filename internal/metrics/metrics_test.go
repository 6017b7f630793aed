package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// courseActions is a pack's action source for the tests.
func courseActions(typ string) []string {
	if typ == "course" {
		return []string{"studio.edit_content", "studio.view_content"}
	}
	return nil
}

// exercise feeds every metric once, so that every family has a series.
func exercise(t *testing.T, m *Metrics) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ist := m.InstrumentStore(st)
	if err := ist.Apply(context.Background(), store.Change{PutUsers: []store.User{{ID: "alice", IsActive: true}}}); err != nil {
		t.Fatal(err)
	}
	m.SetActions(courseActions)
	obs := m.Observer()
	obs(req("course", "studio.edit_content"), &engine.Decision{Allow: true, Revision: "r1"}, time.Millisecond)
	m.ReloadObserver()(engine.ReloadSuccess, nil)
	m.SetRevision("openedx", "r1")
	m.ObserveHTTP("/access/v1/evaluation", 200, time.Millisecond)
	m.SetDecisionLogDropped(func() uint64 { return 3 })
}

func req(typ, action string) *engine.Request {
	return &engine.Request{
		Subject:  engine.Entity{Type: "user", ID: "alice"},
		Action:   engine.Action{Name: action},
		Resource: engine.Entity{Type: typ, ID: "x"},
	}
}

func gather(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of family name with exactly the
// labels given as name=value pairs; ok is false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
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
		}
	}
	return 0, false
}

func TestStartUpSeries(t *testing.T) {
	m := New(Options{})
	mfs := gather(t, m.Registry())
	for _, p := range Plugins {
		if v, ok := value(mfs, "provost_plugin_up", "plugin", p); !ok || v != 0 {
			t.Errorf("plugin_up{%s} = %v, %v", p, v, ok)
		}
		if v, ok := value(mfs, "provost_plugin_restarts_total", "plugin", p); !ok || v != 0 {
			t.Errorf("plugin_restarts_total{%s} = %v, %v", p, v, ok)
		}
	}
	for _, r := range []string{"success", "failure"} {
		if v, ok := value(mfs, "provost_policy_reloads_total", "result", r); !ok || v != 0 {
			t.Errorf("policy_reloads_total{%s} = %v, %v", r, v, ok)
		}
	}
	for _, s := range OutboxStatuses {
		if v, ok := value(mfs, "provost_mail_outbox_messages", "status", s); !ok || v != 0 {
			t.Errorf("mail_outbox_messages{%s} = %v, %v", s, v, ok)
		}
	}
	for _, name := range []string{"provost_decision_errors_total", "go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("%s is missing at start-up", name)
		}
	}
	if mfs["provost_decision_log_dropped_total"] != nil {
		t.Error("decision_log_dropped_total exists before its source is set")
	}
	if mfs["provost_store_users"] != nil {
		t.Error("store gauges exist before a store is instrumented")
	}
}

func TestDecisions(t *testing.T) {
	m := New(Options{})
	obs := m.Observer()
	// Before SetActions every action is "other".
	obs(req("course", "studio.edit_content"), &engine.Decision{Allow: true, Revision: "r1"}, time.Millisecond)
	m.SetActions(courseActions)
	for range 3 {
		obs(req("course", "studio.edit_content"), &engine.Decision{Allow: true, Revision: "r1"}, time.Millisecond)
	}
	obs(req("course", "studio.view_content"), &engine.Decision{Revision: "r1"}, time.Millisecond)
	obs(req("course", "studio.teleport"), &engine.Decision{Revision: "r1"}, time.Millisecond)
	obs(req("spaceship", "studio.edit_content"), &engine.Decision{Revision: "r1"}, time.Millisecond)
	obs(req("course", ""), &engine.Decision{Revision: "r1"}, time.Millisecond)
	obs(req("course", "studio.view_content"), &engine.Decision{Revision: "r1", Error: "boom"}, 2*time.Second)

	mfs := gather(t, m.Registry())
	want := []struct {
		action, decision string
		n                float64
	}{
		{"studio.edit_content", "allow", 3},
		{"studio.view_content", "deny", 2},
		{"other", "allow", 1},
		{"other", "deny", 3},
	}
	for _, w := range want {
		if v, _ := value(mfs, "provost_decisions_total", "action", w.action, "decision", w.decision); v != w.n {
			t.Errorf("decisions_total{%s,%s} = %v, want %v", w.action, w.decision, v, w.n)
		}
	}
	if n := len(mfs["provost_decisions_total"].GetMetric()); n != len(want) {
		t.Errorf("%d decision series, want %d", n, len(want))
	}
	if v, _ := value(mfs, "provost_decision_duration_seconds"); v != 9 {
		t.Errorf("decision_duration_seconds count = %v, want 9", v)
	}
	if v, _ := value(mfs, "provost_decision_errors_total"); v != 1 {
		t.Errorf("decision_errors_total = %v, want 1", v)
	}
	h := mfs["provost_decision_duration_seconds"].GetMetric()[0].GetHistogram()
	if got := h.GetSampleSum(); got < 2.008 || got > 2.0081 {
		t.Errorf("decision_duration_seconds sum = %v", got)
	}
}

func TestActionsFollowRevision(t *testing.T) {
	m := New(Options{})
	actions := []string{"a"}
	m.SetActions(func(typ string) []string { return actions })
	obs := m.Observer()
	obs(req("t", "b"), &engine.Decision{Revision: "r1"}, 0)
	actions = []string{"a", "b"} // a reload adds action b
	obs(req("t", "b"), &engine.Decision{Revision: "r1"}, 0)
	obs(req("t", "b"), &engine.Decision{Revision: "r2"}, 0)
	mfs := gather(t, m.Registry())
	if v, _ := value(mfs, "provost_decisions_total", "action", "other", "decision", "deny"); v != 2 {
		t.Errorf("other = %v, want 2 (cached for r1)", v)
	}
	if v, _ := value(mfs, "provost_decisions_total", "action", "b", "decision", "deny"); v != 1 {
		t.Errorf("b = %v, want 1 (known in r2)", v)
	}
}

func TestReloadsRevisionPluginsOutbox(t *testing.T) {
	m := New(Options{DecisionLogDropped: func() uint64 { return 7 }})
	rel := m.ReloadObserver()
	rel(engine.ReloadSuccess, nil)
	rel(engine.ReloadFailure, errors.New("bad rego"))
	rel(engine.ReloadFailure, errors.New("bad csv"))
	rel("", errors.New("odd"))
	m.SetRevision("openedx", "r1")
	m.SetRevision("openedx", "r2")
	m.SetPluginUp("mail", true)
	m.PluginRestarted("mail")
	m.PluginRestarted("mail")
	m.SetMailOutbox("queued", 4)
	m.SetMailOutbox("queued", 2)

	mfs := gather(t, m.Registry())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"provost_policy_reloads_total", []string{"result", "success"}, 1},
		{"provost_policy_reloads_total", []string{"result", "failure"}, 3},
		{"provost_policy_revision_info", []string{"pack", "openedx", "revision", "r2"}, 1},
		{"provost_plugin_up", []string{"plugin", "mail"}, 1},
		{"provost_plugin_up", []string{"plugin", "reports"}, 0},
		{"provost_plugin_restarts_total", []string{"plugin", "mail"}, 2},
		{"provost_mail_outbox_messages", []string{"status", "queued"}, 2},
		{"provost_decision_log_dropped_total", nil, 7},
	} {
		if v, ok := value(mfs, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if n := len(mfs["provost_policy_revision_info"].GetMetric()); n != 1 {
		t.Errorf("%d revision_info series, want 1 (the old one removed)", n)
	}
}

func TestInstrumentStore(t *testing.T) {
	m := New(Options{})
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "provost.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ist := m.InstrumentStore(st)
	ctx := context.Background()
	if err := ist.Apply(ctx, store.Change{
		PutUsers: []store.User{{ID: "alice", IsActive: true}, {ID: "bob", IsActive: true}},
		Grant:    []store.Assignment{{User: "alice", Role: "staff", Scope: "course:course-v1:A+B+C"}},
		Audit:    []store.AuditEntry{{Time: time.Now(), Caller: "test", Action: "put_user", Target: "alice"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ist.GetUser(ctx, "alice"); err != nil {
		t.Fatalf("reads pass through: %v", err)
	}
	mfs := gather(t, m.Registry())
	for name, want := range map[string]float64{
		"provost_store_users": 2, "provost_store_assignments": 1, "provost_store_resources": 0,
		"provost_store_audit_entries": 1, "provost_store_write_duration_seconds": 1, "provost_store_write_errors_total": 0,
	} {
		if v, ok := value(mfs, name); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
	if v, _ := value(mfs, "provost_store_size_bytes"); v <= 0 {
		t.Errorf("store_size_bytes = %v", v)
	}
	st.Close()
	if err := ist.Apply(ctx, store.Change{PutUsers: []store.User{{ID: "carol"}}}); err == nil {
		t.Fatal("apply to a closed store succeeded")
	}
	mfs = gather(t, m.Registry())
	if v, _ := value(mfs, "provost_store_write_errors_total"); v != 1 {
		t.Errorf("store_write_errors_total = %v, want 1", v)
	}
	if mfs["provost_store_users"] != nil {
		t.Error("store gauges of a closed store are still reported")
	}
}

// TestLint runs promlint over every metric, after each has a series, and
// checks the collectors against their descriptions with a pedantic registry.
func TestLint(t *testing.T) {
	m := New(Options{})
	exercise(t, m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if name := mf.GetName(); !strings.HasPrefix(name, "provost_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s lacks the provost_ prefix", name)
		}
	}

	ped := prometheus.NewPedanticRegistry()
	ped.MustRegister(m.decisions, m.decisionTime, m.decisionErrors, m.reloads, m.revisionInfo,
		m.httpRequests, m.httpTime, m.storeWrites, m.storeErrors, m.pluginUp, m.pluginRestarts,
		m.outbox, m.stats, m.dropped)
	if _, err := ped.Gather(); err != nil {
		t.Fatalf("pedantic registry: %v", err)
	}
	if n, err := testutil.GatherAndCount(ped); err != nil || n == 0 {
		t.Fatalf("pedantic count = %d, %v", n, err)
	}
}

// TestGrafanaDashboard checks that deploy/grafana/provost.json is a
// dashboard whose every query names metrics of the registry.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "provost.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("provost.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.SchemaVersion < 36 {
		t.Fatalf("title %q uid %q schemaVersion %d", dash.Title, dash.UID, dash.SchemaVersion)
	}
	hasDS := slices.ContainsFunc(dash.Templating.List, func(v struct {
		Name, Type string
		Query      any `json:"query"`
	}) bool {
		return v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDS {
		t.Error("no Prometheus data source variable")
	}

	m := New(Options{})
	exercise(t, m)
	mfs := gather(t, m.Registry())
	known := func(name string) bool {
		if mfs[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && mfs[base] != nil &&
				mfs[base].GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	metricRe := regexp.MustCompile(`\b(?:provost|go|process)_[a-z0-9_]+`)
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricRe.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				seen[n] = true
				if !known(n) {
					t.Errorf("panel %q: metric %s is not in the registry", p.Title, n)
				}
			}
		}
	}
	for _, n := range []string{"provost_decisions_total", "provost_decision_duration_seconds_bucket",
		"provost_policy_reloads_total", "provost_plugin_up", "provost_mail_outbox_messages",
		"provost_http_requests_total", "provost_store_size_bytes", "provost_store_write_duration_seconds_bucket"} {
		if !seen[n] {
			t.Errorf("the dashboard does not chart %s", n)
		}
	}
}

// BenchmarkObserver measures what Observe adds to every decision.
func BenchmarkObserver(b *testing.B) {
	m := New(Options{})
	m.SetActions(courseActions)
	obs := m.Observer()
	r := req("course", "studio.edit_content")
	d := &engine.Decision{Allow: true, Revision: "r1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obs(r, d, time.Millisecond)
		}
	})
}
