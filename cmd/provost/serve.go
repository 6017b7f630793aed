package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/provost-lms/provost/internal/decisionlog"
	"github.com/provost-lms/provost/internal/demo"
	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
	"github.com/provost-lms/provost/internal/server"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
	"github.com/provost-lms/provost/internal/watch"
)

// serveConfig is the configuration of provost serve: flags override
// PROVOST_* environment variables, which override the defaults.
type serveConfig struct {
	addr, data, pack, policyDir, pluginsDir, tokensFile, decisionLog string
	allowAnonymous, demo, watch                                      bool
	shutdownTimeout                                                  time.Duration
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", env("PROVOST_ADDR", "127.0.0.1:8181"), "listen address (PROVOST_ADDR)")
	fs.StringVar(&c.data, "data", env("PROVOST_DATA", "./data"), "data directory (PROVOST_DATA)")
	fs.StringVar(&c.pack, "pack", env("PROVOST_PACK", "openedx"), "policy pack (PROVOST_PACK)")
	fs.StringVar(&c.policyDir, "policy-dir", env("PROVOST_POLICY_DIR", "."), "directory holding model.conf, policies/ and rego/ (PROVOST_POLICY_DIR)")
	fs.StringVar(&c.pluginsDir, "plugins-dir", env("PROVOST_PLUGINS_DIR", "bin/plugins"), "plugin binaries (PROVOST_PLUGINS_DIR)")
	fs.StringVar(&c.tokensFile, "tokens-file", env("PROVOST_TOKENS_FILE", ""), "tokens file: {tokens: [{name, sha256, scopes}]} (PROVOST_TOKENS_FILE)")
	fs.BoolVar(&c.allowAnonymous, "allow-anonymous-decisions", false, "serve decisions without a token on a non-loopback address")
	fs.BoolVar(&c.demo, "demo", false, "load the pack's demo data once (make run)")
	fs.StringVar(&c.decisionLog, "decision-log", env("PROVOST_DECISION_LOG", ""), "decision log: a file path, stdout or off (default <data>/"+decisionlog.FileName+"; PROVOST_DECISION_LOG)")
	fs.BoolVar(&c.watch, "watch", true, "reload the policy when model.conf, policies/ or rego/ change")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take after SIGTERM")
}

func (c *serveConfig) validate() error {
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("--addr %q: %v", c.addr, err)
	}
	if c.shutdownTimeout <= 0 {
		return errors.New("--shutdown-timeout must be positive")
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provost serve", flag.ContinueOnError)
	var cfg serveConfig
	cfg.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "provost serve: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "provost serve: %v\n", err)
		return exitError
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("provost serve", "err", err)
		return exitError
	}
	return exitOK
}

// serve runs the server until ctx ends, then shuts down gracefully:
// in-flight requests finish, then the store closes.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer) error {
	var tokens []server.Token
	if cfg.tokensFile != "" {
		var err error
		if tokens, err = server.LoadTokens(cfg.tokensFile); err != nil {
			return err
		}
	}
	admin := os.Getenv("PROVOST_ADMIN_TOKEN")
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return err
	}
	path := filepath.Join(cfg.data, StoreFile)
	st, err := boltstore.Open(path, boltstore.Options{})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w (is another provost serve running on %s?)", err, cfg.data)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	dlogTarget := cfg.decisionLog
	if dlogTarget == "" {
		dlogTarget = filepath.Join(cfg.data, decisionlog.FileName)
	}
	dlog, err := decisionlog.Open(dlogTarget, decisionlog.Options{Logger: log, Stdout: stdout})
	if err != nil {
		return err
	}
	// Closed after the HTTP server stops and before the store closes: every
	// decision answered is logged.
	defer func() {
		if err := dlog.Close(); err != nil {
			log.Error("closing the decision log", "err", err)
		}
	}()
	m := metrics.New(metrics.Options{})
	if dlog != nil {
		m.SetDecisionLogDropped(dlog.Dropped)
	}
	observe := m.Observer()
	e, err := engine.Open(ctx, engine.Options{Store: m.InstrumentStore(st), PolicyDir: cfg.policyDir, Pack: cfg.pack, Logger: log,
		Observe: func(r *engine.Request, d *engine.Decision, took time.Duration) {
			observe(r, d, took)
			dlog.Observe(r, d, took)
		},
		OnReload: m.ReloadObserver(),
	})
	if err != nil {
		return err
	}
	defer e.Close()
	if cfg.demo {
		loaded, err := demo.Load(ctx, e, cfg.pack)
		if err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		log.Info("demo data", "pack", cfg.pack, "loaded_now", loaded)
	}
	// The engine logs each reload's outcome ("maintaining last valid
	// state" on failure) and feeds the metrics through OnReload.
	reload := func(why string) {
		log.Info("policy reload requested", "trigger", why)
		_ = e.Reload(context.Background())
	}
	if cfg.watch {
		w, err := watch.New(policyPaths(cfg.policyDir, cfg.pack), 0, func() { reload("file change") })
		if err != nil {
			return fmt.Errorf("watching the policy: %w", err)
		}
		defer w.Close()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hupDone := make(chan struct{})
	go func() {
		defer close(hupDone)
		for {
			select {
			case <-hup:
				reload("SIGHUP")
			case <-ctx.Done():
				return
			}
		}
	}()
	// Runs before the store closes: no reload rebuilds the index of a closed store.
	defer func() { signal.Stop(hup); <-hupDone }()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := server.New(server.Config{Addr: cfg.addr, AdminToken: admin, Tokens: tokens,
		AllowAnonymousDecisions: cfg.allowAnonymous, Logger: log, Metrics: m}, e, st)
	if !server.IsLoopback(cfg.addr) && !cfg.allowAnonymous && admin == "" && len(tokens) == 0 {
		log.Warn("decision routes need a token on a non-loopback address, and no token is configured")
	}
	log.Info("serving", "addr", ln.Addr().String(), "pack", cfg.pack, "revision", e.Revision(), "data", path, "decision_log", dlogTarget)
	if cfg.demo {
		printDemoHint(stdout, ln.Addr().String(), cfg.pack)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for in-flight requests", "timeout", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return <-errc
}

// policyPaths are the files and directories of pack's policy that a
// reload reads.
func policyPaths(dir, pack string) []string {
	return []string{filepath.Join(dir, "model.conf"), filepath.Join(dir, "policies", pack+".csv"), filepath.Join(dir, "rego", pack)}
}

func printDemoHint(w io.Writer, addr, pack string) {
	body := `{"subject":{"type":"user","id":"ironman"},"action":{"name":"studio.edit_content"},"resource":{"type":"course","id":"course-v1:Marvel+CS101+2026"}}`
	if pack == "oppia" {
		body = `{"subject":{"type":"user","id":"teacher"},"action":{"name":"activity.view"},"resource":{"type":"user","id":"student1","properties":{"course":"anatomy"}}}`
	}
	fmt.Fprintf(w, "\nProvost is serving the %s demo on http://%s. Try:\n\n  curl -s http://%s/access/v1/evaluation -H 'Content-Type: application/json' \\\n    -d '%s'\n\n", pack, addr, addr, body)
}
