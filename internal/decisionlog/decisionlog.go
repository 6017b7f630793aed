// Package decisionlog writes one JSON line per decision asked of the engine
// (SPEC section 9) to a size-rotated file or to standard output.
//
// The decision path only copies a few strings into a bounded in-memory
// queue; a single writer goroutine encodes the lines and writes them in
// batches. When the queue is full a decision is dropped, never waited for:
// the drop is counted (Dropped, for the metrics) and said in the server's
// log, at most once every 10 seconds.
//
// A line holds, in this order: decision_id, time (when the decision was
// made: RFC 3339 in UTC with microseconds), subject {type, id}, action
// {name}, resource {type, id}, decision, reason, error (only when the
// evaluation failed), revision and duration_us. Request properties and
// context are not logged: they may carry personal data, they are not all
// that was decided on (stored properties merge in), and copying them would
// cost the decision path a deep copy.
package decisionlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/provost-lms/provost/internal/engine"
)

// Targets of Open besides a file path.
const (
	Stdout = "stdout"
	Off    = "off"
)

// FileName is the decision log's name in the data directory.
const FileName = "decisions.log"

// Defaults of Options.
const (
	DefaultMaxSizeMB     = 100
	DefaultMaxBackups    = 10
	DefaultBufferSize    = 8192
	DefaultFlushInterval = 500 * time.Millisecond
)

// dropReportEvery bounds how often drops and write failures are logged.
const dropReportEvery = 10 * time.Second

// chunkSize is the size of one write: whole lines, so that a rotation
// never splits a line between two files.
const chunkSize = 64 << 10

// Options configure a Logger. The zero value is the production setting.
type Options struct {
	// MaxSizeMB is the size in megabytes at which the file is rotated
	// (DefaultMaxSizeMB when 0).
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept (DefaultMaxBackups
	// when 0; -1 keeps them all).
	MaxBackups int
	// Compress gzips rotated files.
	Compress bool
	// Stdout is where the "stdout" target writes; os.Stdout when nil.
	Stdout io.Writer
	// BufferSize is how many decisions may wait for the writer before new
	// ones are dropped (DefaultBufferSize when 0).
	BufferSize int
	// FlushInterval bounds how long a decision waits before it is written
	// (DefaultFlushInterval when 0).
	FlushInterval time.Duration
	// Logger receives the decision log's own messages; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock of the time field; time.Now when nil.
	Now func() time.Time
}

// Logger is an asynchronous decision log. A nil *Logger (the "off"
// target) is valid: its methods do nothing.
type Logger struct {
	out    io.Writer
	closer io.Closer // nil for stdout
	log    *slog.Logger
	now    func() time.Time
	flush  time.Duration

	mu     sync.Mutex
	queue  []entry // appended by Observe; swapped out by the writer
	closed bool
	wakeAt int // queue length at which Observe wakes the writer

	wake chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup

	overflow atomic.Uint64 // dropped because the queue was full or closed
	failed   atomic.Uint64 // lost in a failed write

	// Owned by the writer goroutine.
	spare     []entry
	buf       []byte
	lines     uint64 // lines in buf
	failedLog time.Time

	// Owned by the monitor goroutine, then by Close.
	reported   uint64
	reportedAt time.Time

	closeOnce sync.Once
	closeErr  error
}

// entry is what a line needs, copied from the request and the decision.
type entry struct {
	id, reason, errmsg, revision string
	subjType, subjID             string
	action                       string
	resType, resID               string
	allow                        bool
	at                           time.Time
	took                         time.Duration
}

// Open opens the decision log: target is a file path, "stdout" or "off".
// A file is created if needed (mode 0600), appended to, and rotated when it
// reaches MaxSizeMB. Open fails if the file cannot be opened; "off"
// returns a nil *Logger.
func Open(target string, opts Options) (*Logger, error) {
	switch target {
	case Off:
		return nil, nil
	case "":
		return nil, errors.New("decision log: empty target (want a path, stdout or off)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	l := &Logger{
		log:    opts.Logger.With("component", "decisionlog"),
		now:    opts.Now,
		flush:  opts.FlushInterval,
		queue:  make([]entry, 0, opts.BufferSize),
		spare:  make([]entry, 0, opts.BufferSize),
		wakeAt: max(1, opts.BufferSize/4),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	if target == Stdout {
		l.out = opts.Stdout
		if l.out == nil {
			l.out = os.Stdout
		}
	} else {
		lj := &lumberjack.Logger{Filename: target, MaxSize: opts.MaxSizeMB, MaxBackups: opts.MaxBackups, Compress: opts.Compress}
		if lj.MaxSize <= 0 {
			lj.MaxSize = DefaultMaxSizeMB
		}
		switch {
		case lj.MaxBackups == 0:
			lj.MaxBackups = DefaultMaxBackups
		case lj.MaxBackups < 0:
			lj.MaxBackups = 0 // lumberjack keeps every backup
		}
		// Open the file now, to fail at start-up rather than on the
		// first decision.
		if _, err := lj.Write(nil); err != nil {
			return nil, fmt.Errorf("decision log %s: %w", target, err)
		}
		l.out, l.closer = lj, lj
	}
	l.wg.Add(2)
	go l.writer()
	go l.monitor()
	return l, nil
}

// Observe queues one decision for the log. It matches engine.Options.Observe
// and never blocks on the writer: when the queue is full, or the log is
// closed, the decision is counted as dropped. It retains the request's
// strings, never its maps.
func (l *Logger) Observe(req *engine.Request, d *engine.Decision, took time.Duration) {
	if l == nil {
		return
	}
	e := entry{
		id: d.ID, reason: d.Reason, errmsg: d.Error, revision: d.Revision, allow: d.Allow,
		subjType: req.Subject.Type, subjID: req.Subject.ID,
		action:  req.Action.Name,
		resType: req.Resource.Type, resID: req.Resource.ID,
		at: l.now(), took: took,
	}
	l.mu.Lock()
	if l.closed || len(l.queue) == cap(l.queue) {
		l.mu.Unlock()
		l.overflow.Add(1)
		return
	}
	l.queue = append(l.queue, e)
	wake := len(l.queue) == l.wakeAt
	l.mu.Unlock()
	if wake {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped returns how many decisions were not logged: dropped because the
// queue was full (or the log closed), or lost in a failed write.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.overflow.Load() + l.failed.Load()
}

// Close writes every queued decision, closes the file and logs the drops
// not yet reported. Decisions observed after Close are dropped and counted.
// Close is idempotent; it returns the first write error of the logger's
// life, else the error of closing the file. It waits for the writer: a
// write that never returns (a stuck pipe on stdout) holds it.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.quit)
		l.wg.Wait()
		l.reportOverflow(l.now(), true)
		if l.closer != nil {
			if err := l.closer.Close(); err != nil && l.closeErr == nil {
				l.closeErr = err
			}
		}
	})
	return l.closeErr
}

// writer writes the queue whenever Observe or the monitor wakes it, and
// everything left when the log closes.
func (l *Logger) writer() {
	defer l.wg.Done()
	for {
		select {
		case <-l.wake:
			l.writeQueue()
		case <-l.quit:
			// Observe queues nothing once closed is set, before quit.
			l.writeQueue()
			return
		}
	}
}

// writeQueue takes the queued decisions and writes them in chunks of
// whole lines.
func (l *Logger) writeQueue() {
	l.mu.Lock()
	q := l.queue
	l.queue = l.spare[:0]
	l.mu.Unlock()
	for i := range q {
		l.buf = appendLine(l.buf, &q[i])
		l.lines++
		if len(l.buf) >= chunkSize {
			l.writeBuf()
		}
	}
	l.writeBuf()
	clear(q) // drop the strings for the collector
	l.spare = q[:0]
}

func (l *Logger) writeBuf() {
	if len(l.buf) == 0 {
		return
	}
	if _, err := l.out.Write(l.buf); err != nil {
		total := l.failed.Add(l.lines)
		if l.closeErr == nil {
			l.closeErr = err
		}
		if now := l.now(); now.Sub(l.failedLog) >= dropReportEvery {
			l.failedLog = now
			l.log.Error(fmt.Sprintf("decision log write failed: %d decisions lost", l.lines),
				"err", err, "lost_total", total)
		}
	}
	if cap(l.buf) > 4*chunkSize {
		l.buf = nil // one huge line: do not keep its buffer
	}
	l.buf, l.lines = l.buf[:0], 0
}

// monitor wakes the writer every flush interval and reports drops.
func (l *Logger) monitor() {
	defer l.wg.Done()
	t := time.NewTicker(l.flush)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			select {
			case l.wake <- struct{}{}:
			default:
			}
			l.reportOverflow(l.now(), false)
		}
	}
}

// reportOverflow logs the decisions dropped since the last report, at most
// once every dropReportEvery unless forced.
func (l *Logger) reportOverflow(now time.Time, force bool) {
	n := l.overflow.Load()
	if n == l.reported || (!force && now.Sub(l.reportedAt) < dropReportEvery) {
		return
	}
	l.log.Warn(fmt.Sprintf("decision log buffer full: %d decisions dropped", n-l.reported), "dropped_total", n)
	l.reported, l.reportedAt = n, now
}
