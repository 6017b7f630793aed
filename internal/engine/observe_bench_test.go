//go:build unix

package engine_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/decisionlog"
	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
)

// BenchmarkDecideObserved measures decision throughput (parallel callers,
// 10 k role assignments in a real bbolt store) with nothing observing the
// decisions, with the decision log writing to a file, with the metrics,
// and with both, as provost serve runs. The goal: log+metrics within 10 %
// of off.
//
// Besides ns/op (wall time, which other processes on a shared machine
// disturb), it reports cpu-ns/op: the CPU time of the whole process per
// decision, the writer goroutine and the collector included. With every
// core busy, throughput is cores / cpu-ns/op.
func BenchmarkDecideObserved(b *testing.B) {
	ctx := context.Background()
	d, reqs := benchData(10_000)
	st := openStore(b)
	seedBatched(b, st, d)
	ereqs := make([]*engine.Request, len(reqs))
	for i, r := range reqs {
		ereqs[i] = request(b, r)
	}
	for _, mode := range []struct {
		name         string
		log, metrics bool
	}{
		{"off", false, false},
		{"log", true, false},
		{"metrics", false, true},
		{"log+metrics", true, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var observers []func(*engine.Request, *engine.Decision, time.Duration)
			var dl *decisionlog.Logger
			if mode.log {
				var err error
				dl, err = decisionlog.Open(filepath.Join(b.TempDir(), decisionlog.FileName),
					decisionlog.Options{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				observers = append(observers, dl.Observe)
			}
			var m *metrics.Metrics
			if mode.metrics {
				m = metrics.New(metrics.Options{DecisionLogDropped: dl.Dropped})
				observers = append(observers, m.Observer())
			}
			opts := engine.Options{Store: st, PolicyDir: policyDir, Pack: "openedx"}
			switch len(observers) {
			case 1:
				opts.Observe = observers[0]
			case 2:
				// As provost serve composes them.
				first, second := observers[0], observers[1]
				opts.Observe = func(r *engine.Request, d *engine.Decision, took time.Duration) {
					first(r, d, took)
					second(r, d, took)
				}
			}
			e, err := engine.Open(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			if m != nil {
				m.SetActions(e.Actions)
			}
			var next atomic.Uint64
			runtime.GC() // not the previous engine's garbage
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1)) * 97
				for pb.Next() {
					if d := e.Decide(ctx, ereqs[i%len(ereqs)]); d.Error != "" {
						b.Error(d.Error)
						return
					}
					i++
				}
			})
			// Writing what is still queued is part of the work.
			if err := dl.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if dl != nil {
				b.ReportMetric(float64(dl.Dropped()), "dropped")
			}
		})
	}
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
