package decisionlog

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provost-lms/provost/internal/engine"
)

// FuzzAppendString checks that appendString writes valid JSON that decodes
// to what encoding/json's encoding of the same string decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x01\x1f\x7f\n\r\t\b\f", "é€😀", "\xff\xfe", "a\u2028b\u2029c", "<&>", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		if !json.Valid(got) {
			t.Fatalf("appendString(%q) = %s: not valid JSON", s, got)
		}
		std, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(std, &b)
		if a != b {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, a, b)
		}
		if strings.ContainsAny(string(got), "\n\r\u2028\u2029") {
			t.Fatalf("appendString(%q) = %s: holds a line break", s, got)
		}
	})
}

func benchEntry() entry {
	return entry{id: "9f86d081-123456", reason: "role instructor of course-v1:Marvel+CS101+2026 allows studio.edit_content",
		revision: "openedx@3f2a9c1", subjType: "user", subjID: "u1234", action: "studio.edit_content",
		resType: "course", resID: "course-v1:Marvel+CS101+2026", allow: true,
		at: time.Now(), took: 95 * time.Microsecond}
}

// BenchmarkEncode compares the hand-written line encoder with encoding/json
// on a struct of the same fields.
func BenchmarkEncode(b *testing.B) {
	e := benchEntry()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendLine(buf[:0], &e)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		type ref struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		type line struct {
			DecisionID string `json:"decision_id"`
			Time       string `json:"time"`
			Subject    ref    `json:"subject"`
			Action     struct {
				Name string `json:"name"`
			} `json:"action"`
			Resource   ref    `json:"resource"`
			Decision   bool   `json:"decision"`
			Reason     string `json:"reason"`
			Error      string `json:"error,omitempty"`
			Revision   string `json:"revision"`
			DurationUS int64  `json:"duration_us"`
		}
		b.ReportAllocs()
		enc := json.NewEncoder(io.Discard)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			l := line{DecisionID: e.id, Time: e.at.UTC().Format(TimeFormat), Subject: ref{e.subjType, e.subjID},
				Resource: ref{e.resType, e.resID}, Decision: e.allow, Reason: e.reason, Error: e.errmsg,
				Revision: e.revision, DurationUS: e.took.Microseconds()}
			l.Action.Name = e.action
			if err := enc.Encode(&l); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkObserve measures what Observe costs a decision: copying it into
// the queue. The queue is emptied (untimed) every 1024 decisions, so that
// every Observe queues rather than drops.
func BenchmarkObserve(b *testing.B) {
	l, err := Open(Stdout, Options{Stdout: io.Discard, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEntry()
	req := &engine.Request{Subject: engine.Entity{Type: e.subjType, ID: e.subjID}, Action: engine.Action{Name: e.action},
		Resource: engine.Entity{Type: e.resType, ID: e.resID}}
	d := &engine.Decision{ID: e.id, Allow: e.allow, Reason: e.reason, Revision: e.revision}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Observe(req, d, e.took)
		if i%1024 == 1023 {
			b.StopTimer()
			l.mu.Lock()
			clear(l.queue)
			l.queue = l.queue[:0]
			l.mu.Unlock()
			b.StartTimer()
		}
	}
	l.Close()
	if l.Dropped() != 0 {
		b.Fatalf("%d dropped", l.Dropped())
	}
}

// BenchmarkWriteFile measures the writer's work per decision: encoding a
// line and writing it, in 64 KiB chunks, to a rotated file.
func BenchmarkWriteFile(b *testing.B) {
	// Only this benchmark writes: Observe is not called (no wake) and the
	// monitor's first tick is an hour away.
	l, err := Open(filepath.Join(b.TempDir(), FileName), Options{BufferSize: 1024, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.mu.Lock()
		l.queue = append(l.queue, e)
		full := len(l.queue) == cap(l.queue)
		l.mu.Unlock()
		if full {
			l.writeQueue()
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
