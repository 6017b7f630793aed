// Package watch calls a function when files change. It watches files and
// directory trees with fsnotify and coalesces each burst of events into
// one call. It survives editors that save by writing a new file and
// renaming it over the old one, directories created later (they are
// watched too) and a tree replaced as a whole (watched again once back).
//
// A file is watched through its directory (a watch on the file itself
// would die with the replaced file), so that only events on its name
// count. In a tree every entry counts except editor scratch files (see
// Ignored) and changes of permissions alone.
package watch

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is a quiet period that coalesces an editor's save or a
// checkout into one call and leaves time for a reload within 2 s.
const DefaultDebounce = 200 * time.Millisecond

// Watcher calls onChange once a burst of changes to its paths has been
// quiet for the debounce period, or at the latest 5 debounce periods after
// the burst began. It runs one goroutine besides fsnotify's; onChange runs
// on it, one call at a time, and changes made during a call lead to one
// more call.
type Watcher struct {
	fsw      *fsnotify.Watcher
	debounce time.Duration
	onChange func()
	log      *slog.Logger

	// Owned by the loop goroutine once New returns.
	names map[string]map[string]bool // watched directory → names of targets in it
	trees map[string]bool            // directories watched as part of a tree

	done      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// New watches paths (files or directories; a directory is watched with
// everything below it) and calls onChange after each burst of changes.
// A path may be missing when New is called (its directory may not): it
// counts once created. Errors are logged with slog's default logger.
func New(paths []string, debounce time.Duration, onChange func()) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		fsw:      fsw,
		debounce: debounce,
		onChange: onChange,
		log:      slog.Default().With("component", "watch"),
		names:    map[string]map[string]bool{},
		trees:    map[string]bool{},
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		dir, name := filepath.Dir(p), filepath.Base(p)
		if err := fsw.Add(dir); err != nil {
			fsw.Close()
			return nil, err
		}
		if w.names[dir] == nil {
			w.names[dir] = map[string]bool{}
		}
		w.names[dir][name] = true
		if isDir(p) {
			if err := w.addTree(p); err != nil {
				fsw.Close()
				return nil, err
			}
		}
	}
	go w.loop()
	return w, nil
}

// Close stops watching and waits for a call of onChange in progress.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.stopped
		err = w.fsw.Close()
	})
	return err
}

// Ignored reports whether a name in a watched tree is an editor's scratch
// file: a hidden file (vim's .x.swp, emacs's .#x), a backup (x~, #x#),
// a .swp, .swx or .tmp file, or vim's write test "4913".
func Ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx") || strings.HasSuffix(name, ".tmp") ||
		name == "4913"
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// addTree watches dir and every directory below it.
func (w *Watcher) addTree(dir string) error {
	// The trailing separator makes WalkDir follow a symbolic link at the
	// root (a mounted configuration often is one).
	return filepath.WalkDir(dir+string(filepath.Separator), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		p = filepath.Clean(p)
		if p != filepath.Clean(dir) && Ignored(d.Name()) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(p); err != nil {
			return err
		}
		w.trees[p] = true
		return nil
	})
}

// removeTree forgets dir and the directories below it.
func (w *Watcher) removeTree(dir string) {
	prefix := dir + string(filepath.Separator)
	for p := range w.trees {
		if p == dir || strings.HasPrefix(p, prefix) {
			delete(w.trees, p)
			_ = w.fsw.Remove(p) // gone already when the directory was deleted
		}
	}
}

// handle updates the watches for ev and reports whether ev is a change.
func (w *Watcher) handle(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	dir, base := filepath.Dir(name), filepath.Base(name)
	target := w.names[dir][base]
	inTree := w.trees[dir] && !Ignored(base)
	if !target && !inTree {
		return false
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.removeTree(name)
	}
	if (ev.Has(fsnotify.Create) || target) && isDir(name) && !w.trees[name] {
		// A new directory, or a target directory back after a removal:
		// watch it, and count the change (files created in it before the
		// watch was in place have no events of their own).
		if err := w.addTree(name); err != nil {
			w.log.Warn("cannot watch a new directory; changes below it need a reload", "dir", name, "err", err)
		}
	}
	return ev.Op != fsnotify.Chmod
}

func (w *Watcher) loop() {
	defer close(w.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	maxWait := 5 * w.debounce
	var first time.Time // start of the pending burst; zero when none
	arm := func() {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		timer.Reset(max(min(w.debounce, first.Add(maxWait).Sub(now)), 0))
	}
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.handle(ev) {
				arm()
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow lost events: call onChange anyway.
			w.log.Warn("file watch error", "err", err)
			arm()
		case <-timer.C:
			first = time.Time{}
			w.onChange()
		}
	}
}
