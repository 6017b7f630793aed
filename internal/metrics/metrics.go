// Package metrics holds Provost's Prometheus metrics in a private registry:
// decisions, policy reloads, HTTP requests by route template, the store,
// plugins and the mail outbox, plus the Go and process collectors.
//
// Every label is bounded: actions are the pack's (anything else is
// "other"), routes are gin templates, plugin names and outbox statuses come
// from the host, never from a client. Series that dashboards and alerts
// rely on (reload results, plugins, outbox statuses) exist from start-up
// at 0.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/provost-lms/provost/internal/engine"
)

// Namespace prefixes every Provost metric.
const Namespace = "provost"

// Label values.
const (
	// OtherAction is the action label of every action the pack does not know.
	OtherAction = "other"
	// UnmatchedRoute is the route label of a request no route matched.
	UnmatchedRoute = "unmatched"
	Allow          = "allow"
	Deny           = "deny"
)

// Plugins are the plugins whose series exist from start-up.
var Plugins = []string{"enrollment", "mail", "reports"}

// OutboxStatuses are the mail outbox statuses whose series exist from start-up.
var OutboxStatuses = []string{"queued", "sent", "failed"}

// Buckets of the decision and store-write latencies: decisions take tens
// of microseconds to a few milliseconds.
var fastBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// Buckets of HTTP request latencies (an import may take minutes: +Inf).
var httpBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Options configure Metrics.
type Options struct {
	// DecisionLogDropped, when set, is exported as
	// provost_decision_log_dropped_total (see SetDecisionLogDropped).
	DecisionLogDropped func() uint64
}

// Metrics is Provost's set of metrics and their registry. Its methods are
// safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	decisions      *prometheus.CounterVec
	decisionTime   prometheus.Histogram
	decisionErrors prometheus.Counter
	reloads        *prometheus.CounterVec
	revisionInfo   *prometheus.GaugeVec
	httpRequests   *prometheus.CounterVec
	httpTime       *prometheus.HistogramVec
	storeWrites    prometheus.Histogram
	storeErrors    prometheus.Counter
	pluginUp       *prometheus.GaugeVec
	pluginRestarts *prometheus.CounterVec
	outbox         *prometheus.GaugeVec

	revMu          sync.Mutex
	revPack, revID string

	actions actionLabels
	stats   *statsCollector
	dropped *droppedCollector
}

// New creates the metrics in a new private registry with the Go and
// process collectors; plugin, outbox and reload series start at 0.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "decisions_total",
			Help: "Decisions asked of the engine, by action (the pack's, else other) and decision (allow or deny).",
		}, []string{"action", "decision"}),
		decisionTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "decision_duration_seconds",
			Help: "Time the engine took to decide a request.", Buckets: fastBuckets,
		}),
		decisionErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "decision_errors_total",
			Help: "Decisions that failed with an evaluation error (answered as deny).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "policy_reloads_total",
			Help: "Policy reload attempts by result (success or failure).",
		}, []string{"result"}),
		revisionInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "policy_revision_info",
			Help: "The pack and policy revision in use (value 1).",
		}, []string{"pack", "revision"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route template and status code.",
		}, []string{"route", "code"}),
		httpTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route template.", Buckets: httpBuckets,
		}, []string{"route"}),
		storeWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "store_write_duration_seconds",
			Help: "Time to commit one change to the store.", Buckets: fastBuckets,
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_write_errors_total",
			Help: "Store writes that failed.",
		}),
		pluginUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "plugin_up",
			Help: "Whether a plugin process is up (1) or down (0).",
		}, []string{"plugin"}),
		pluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "plugin_restarts_total",
			Help: "Restarts of a plugin process after a crash.",
		}, []string{"plugin"}),
		outbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "mail_outbox_messages",
			Help: "Messages in the mail outbox by status.",
		}, []string{"status"}),
		stats:   newStatsCollector(),
		dropped: newDroppedCollector(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.decisions, m.decisionTime, m.decisionErrors, m.reloads, m.revisionInfo,
		m.httpRequests, m.httpTime, m.storeWrites, m.storeErrors,
		m.pluginUp, m.pluginRestarts, m.outbox, m.stats, m.dropped,
	)
	for _, r := range []string{engine.ReloadSuccess, engine.ReloadFailure} {
		m.reloads.WithLabelValues(r)
	}
	for _, p := range Plugins {
		m.pluginUp.WithLabelValues(p)
		m.pluginRestarts.WithLabelValues(p)
	}
	for _, s := range OutboxStatuses {
		m.outbox.WithLabelValues(s)
	}
	if o.DecisionLogDropped != nil {
		m.SetDecisionLogDropped(o.DecisionLogDropped)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Registry returns the private registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveDecision counts one decision and its latency. action must already
// be a bounded label (Observer maps unknown actions to OtherAction); a
// decision with an error is a deny and also counts as an error.
func (m *Metrics) ObserveDecision(action string, allow, isErr bool, took time.Duration) {
	d := Deny
	if allow {
		d = Allow
	}
	m.decisions.WithLabelValues(action, d).Inc()
	m.decisionTime.Observe(took.Seconds())
	if isErr {
		m.decisionErrors.Inc()
	}
}

// Observer returns a function for engine.Options.Observe. Actions the pack
// does not list for the resource type (see SetActions) count as
// OtherAction, so that clients cannot create series.
func (m *Metrics) Observer() func(*engine.Request, *engine.Decision, time.Duration) {
	return func(req *engine.Request, d *engine.Decision, took time.Duration) {
		action := m.actions.label(req.Resource.Type, req.Action.Name, d.Revision)
		m.ObserveDecision(action, d.Allow, d.Error != "", took)
	}
}

// SetActions sets the source of the pack's actions per resource type
// (engine.Engine.Actions). Until it is set every action counts as
// OtherAction. server.New sets it from its engine.
func (m *Metrics) SetActions(actions func(resourceType string) []string) {
	m.actions.set(actions)
}

// ReloadObserver returns a function for engine.Options.OnReload: it counts
// the attempt by result; an unexpected result counts as a failure when err
// is set and a success otherwise.
func (m *Metrics) ReloadObserver() func(result string, err error) {
	return func(result string, err error) {
		if result != engine.ReloadSuccess && result != engine.ReloadFailure {
			result = engine.ReloadSuccess
			if err != nil {
				result = engine.ReloadFailure
			}
		}
		m.reloads.WithLabelValues(result).Inc()
	}
}

// SetRevision makes provost_policy_revision_info 1 for pack and revision,
// removing the series of the previous revision.
func (m *Metrics) SetRevision(pack, revision string) {
	m.revMu.Lock()
	defer m.revMu.Unlock()
	if pack == m.revPack && revision == m.revID {
		return
	}
	m.revisionInfo.Reset()
	m.revisionInfo.WithLabelValues(pack, revision).Set(1)
	m.revPack, m.revID = pack, revision
}

// ObserveHTTP counts one HTTP request. route must be a route template
// (never a raw path) or UnmatchedRoute.
func (m *Metrics) ObserveHTTP(route string, code int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpTime.WithLabelValues(route).Observe(took.Seconds())
}

// SetPluginUp records whether a plugin process is up.
func (m *Metrics) SetPluginUp(plugin string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.pluginUp.WithLabelValues(plugin).Set(v)
}

// PluginRestarted counts one restart of a plugin process.
func (m *Metrics) PluginRestarted(plugin string) {
	m.pluginRestarts.WithLabelValues(plugin).Inc()
}

// SetMailOutbox sets the number of outbox messages with a status (one of
// OutboxStatuses).
func (m *Metrics) SetMailOutbox(status string, n int) {
	m.outbox.WithLabelValues(status).Set(float64(n))
}

// SetDecisionLogDropped exports fn as provost_decision_log_dropped_total:
// the decision log entries dropped since start-up. Until it is set the
// series does not exist.
func (m *Metrics) SetDecisionLogDropped(fn func() uint64) {
	m.dropped.fn.Store(&fn)
}

// actionLabels maps actions to labels: the pack's actions for the resource
// type keep their name, anything else is OtherAction. The pack's action
// sets are cached per revision; unknown resource types are never cached.
type actionLabels struct {
	source atomic.Pointer[func(string) []string]

	mu       sync.RWMutex
	revision string
	byType   map[string]map[string]struct{}
}

func (a *actionLabels) set(fn func(string) []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.source.Store(&fn)
	a.revision, a.byType = "", nil
}

func (a *actionLabels) label(resourceType, action, revision string) string {
	src := a.source.Load()
	if src == nil || *src == nil || action == "" {
		return OtherAction
	}
	a.mu.RLock()
	set, ok := a.byType[resourceType]
	ok = ok && a.revision == revision
	a.mu.RUnlock()
	if !ok {
		list := (*src)(resourceType)
		if len(list) == 0 {
			return OtherAction
		}
		set = make(map[string]struct{}, len(list))
		for _, x := range list {
			set[x] = struct{}{}
		}
		a.mu.Lock()
		if a.revision != revision || a.byType == nil {
			a.revision, a.byType = revision, map[string]map[string]struct{}{}
		}
		a.byType[resourceType] = set
		a.mu.Unlock()
	}
	if _, ok := set[action]; ok {
		return action
	}
	return OtherAction
}

// droppedCollector exports the decision log's dropped count once its
// source is set.
type droppedCollector struct {
	desc *prometheus.Desc
	fn   atomic.Pointer[func() uint64]
}

func newDroppedCollector() *droppedCollector {
	return &droppedCollector{desc: prometheus.NewDesc(Namespace+"_decision_log_dropped_total",
		"Decision log entries dropped because the log could not keep up.", nil, nil)}
}

func (c *droppedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *droppedCollector) Collect(ch chan<- prometheus.Metric) {
	if fn := c.fn.Load(); fn != nil && *fn != nil {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64((*fn)()))
	}
}
