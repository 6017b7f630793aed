package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// StoreFile is the name of the bbolt file in the data directory.
const StoreFile = "provost.db"

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// localFlags are the flags of commands that open the store themselves.
type localFlags struct {
	pack, data, policyDir, server, token string
}

func (l *localFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.pack, "pack", env("PROVOST_PACK", "openedx"), "policy pack (PROVOST_PACK)")
	fs.StringVar(&l.data, "data", env("PROVOST_DATA", "./data"), "data directory holding "+StoreFile+" (PROVOST_DATA)")
	fs.StringVar(&l.policyDir, "policy-dir", env("PROVOST_POLICY_DIR", "."), "directory holding model.conf, policies/ and rego/ (PROVOST_POLICY_DIR)")
	fs.StringVar(&l.server, "server", "", "ask a running Provost at this base URL instead of opening the store")
	fs.StringVar(&l.token, "token", "", "bearer token for --server (default PROVOST_TOKEN, else PROVOST_ADMIN_TOKEN)")
}

func (l *localFlags) bearer() string {
	if l.token != "" {
		return l.token
	}
	if t := os.Getenv("PROVOST_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("PROVOST_ADMIN_TOKEN")
}

// openLocal opens the store in the data directory and the engine over it.
// readOnly opens the store with a shared lock; a missing store then opens
// as empty (nothing was ever written). The returned close func closes both.
func (l *localFlags) openLocal(ctx context.Context, readOnly bool, stderr io.Writer) (*engine.Engine, func(), error) {
	path := filepath.Join(l.data, StoreFile)
	var st store.Store
	var err error
	switch _, statErr := os.Stat(path); {
	case readOnly && errors.Is(statErr, fs.ErrNotExist):
		tmp, terr := os.MkdirTemp("", "provost-empty-")
		if terr != nil {
			return nil, nil, terr
		}
		defer os.RemoveAll(tmp) // bbolt keeps its open file; the name can go
		fmt.Fprintf(stderr, "provost: no store at %s: deciding over an empty store\n", path)
		st, err = boltstore.Open(filepath.Join(tmp, StoreFile), boltstore.Options{})
	default:
		if !readOnly {
			if err := os.MkdirAll(l.data, 0o700); err != nil {
				return nil, nil, err
			}
		}
		st, err = boltstore.Open(path, boltstore.Options{ReadOnly: readOnly, Timeout: 500_000_000})
	}
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%w\n(a running provost serve holds %s; ask it with --server URL instead)", err, path)
	}
	if err != nil {
		return nil, nil, err
	}
	e, err := engine.Open(ctx, engine.Options{Store: st, PolicyDir: l.policyDir, Pack: l.pack,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return e, func() { e.Close(); st.Close() }, nil
}

func cmdVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "provost %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(stdout, "go %s\n", bi.GoVersion)
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/open-policy-agent/opa", "github.com/casbin/casbin/v2", "go.etcd.io/bbolt":
				fmt.Fprintf(stdout, "%s %s\n", d.Path, d.Version)
			}
		}
	}
	return exitOK
}

// parseFlags parses args with fs, reporting usage errors on stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) bool {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return false
	}
	return true
}
