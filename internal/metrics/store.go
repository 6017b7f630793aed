package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/provost-lms/provost/internal/store"
)

// statsTimeout bounds the store read of one scrape.
const statsTimeout = 2 * time.Second

// InstrumentStore returns st with its writes timed into
// provost_store_write_duration_seconds (failures also count in
// provost_store_write_errors_total), and makes st the source of the store
// gauges, read with st.Stats on every scrape. Give the result to the
// engine; the caller still closes st.
func (m *Metrics) InstrumentStore(st store.Store) store.Store {
	m.stats.st.Store(&st)
	return &instrumentedStore{Store: st, m: m}
}

// instrumentedStore is a store.Store whose Apply is timed.
type instrumentedStore struct {
	store.Store
	m *Metrics
}

// Apply applies c with the wrapped store and records how long it took.
func (s *instrumentedStore) Apply(ctx context.Context, c store.Change) error {
	start := time.Now()
	err := s.Store.Apply(ctx, c)
	s.m.storeWrites.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.storeErrors.Inc()
	}
	return err
}

// statsCollector reads store.Stats on every scrape.
type statsCollector struct {
	st                                          atomic.Pointer[store.Store]
	users, assignments, resources, audit, bytes *prometheus.Desc
}

func newStatsCollector() *statsCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_store_"+name, help, nil, nil)
	}
	return &statsCollector{
		users:       d("users", "Users in the store."),
		assignments: d("assignments", "Role assignments in the store."),
		resources:   d("resources", "Registered resources in the store."),
		audit:       d("audit_entries", "Entries of the audit log."),
		bytes:       d("size_bytes", "Size of the store's data file."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.users, c.assignments, c.resources, c.audit, c.bytes} {
		ch <- d
	}
}

// Collect reports nothing when no store is set or its Stats fail (a closed
// store): the series disappear rather than report stale values.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.st.Load()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	s, err := (*p).Stats(ctx)
	if err != nil {
		return
	}
	g := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	g(c.users, float64(s.Users))
	g(c.assignments, float64(s.Assignments))
	g(c.resources, float64(s.Resources))
	g(c.audit, float64(s.AuditLength))
	g(c.bytes, float64(s.FileBytes))
}
