// Package pack reads a policy pack from a policy directory: model.conf,
// policies/<pack>.csv and rego/<pack>/ (Rego modules, tests, settings.json).
// Reading is separate from compiling so that a reload can read, compile
// and test a new revision before anything swaps.
package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ErrUnknownPack is returned when the policy directory has no such pack.
var ErrUnknownPack = errors.New("unknown pack")

// HooksFile is the file of package hooks, which Provost replaces.
const HooksFile = "hooks.rego"

// Pack is the source of one policy pack.
type Pack struct {
	Name      string
	PolicyDir string
	ModelPath string
	Model     string
	CSVPath   string
	RegoDir   string
	// Modules are the pack's Rego modules (path → source), without tests
	// and without hooks.rego.
	Modules map[string]string
	// Tests are the *_test.rego modules.
	Tests map[string]string
	// Hooks is the pure-Rego hooks.rego (used by stock OPA and tests).
	Hooks string
	// Data are the JSON documents of rego/<pack>/ other than settings.json
	// (test data such as data.store.implies), by path.
	Data map[string]any
	// Settings are the flags of settings.json.
	Settings map[string]any
	// Revision identifies the pack's content: a hash of every file read.
	Revision string
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Load reads pack name from policyDir.
func Load(policyDir, name string) (*Pack, error) {
	if !nameRe.MatchString(name) {
		return nil, fmt.Errorf("%w %q: a pack name is lower-case letters, digits and '_'", ErrUnknownPack, name)
	}
	p := &Pack{
		Name:      name,
		PolicyDir: policyDir,
		ModelPath: filepath.Join(policyDir, "model.conf"),
		CSVPath:   filepath.Join(policyDir, "policies", name+".csv"),
		RegoDir:   filepath.Join(policyDir, "rego", name),
		Modules:   map[string]string{},
		Tests:     map[string]string{},
		Data:      map[string]any{},
	}
	if st, err := os.Stat(p.RegoDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w %q: no directory %s", ErrUnknownPack, name, p.RegoDir)
	}
	h := sha256.New()
	read := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(path), len(b))
		h.Write(b)
		return string(b), nil
	}
	var err error
	if p.Model, err = read(p.ModelPath); err != nil {
		return nil, fmt.Errorf("pack %s: %w", name, err)
	}
	if _, err = read(p.CSVPath); err != nil {
		return nil, fmt.Errorf("pack %s: %w", name, err)
	}
	var files []string
	err = filepath.WalkDir(p.RegoDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p.RegoDir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", name, err)
	}
	sort.Strings(files)
	for _, path := range files {
		src, err := read(path)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", name, err)
		}
		base := filepath.Base(path)
		switch {
		case base == HooksFile:
			p.Hooks = src
		case strings.HasSuffix(base, "_test.rego"):
			p.Tests[path] = src
		case strings.HasSuffix(base, ".rego"):
			p.Modules[path] = src
		case base == "settings.json":
			var doc struct {
				Settings map[string]any `json:"settings"`
			}
			if err := json.Unmarshal([]byte(src), &doc); err != nil {
				return nil, fmt.Errorf("pack %s: %s: %w", name, path, err)
			}
			p.Settings = doc.Settings
		default:
			var doc any
			if err := json.Unmarshal([]byte(src), &doc); err != nil {
				return nil, fmt.Errorf("pack %s: %s: %w", name, path, err)
			}
			p.Data[path] = doc
		}
	}
	if p.Hooks == "" {
		return nil, fmt.Errorf("pack %s: %s is missing", name, filepath.Join(p.RegoDir, HooksFile))
	}
	if len(p.Modules) == 0 {
		return nil, fmt.Errorf("pack %s: no Rego modules in %s", name, p.RegoDir)
	}
	if p.Settings == nil {
		p.Settings = map[string]any{}
	}
	p.Revision = hex.EncodeToString(h.Sum(nil))[:12]
	return p, nil
}

// SettingsWith returns the pack's settings with overrides applied.
func (p *Pack) SettingsWith(over map[string]any) map[string]any {
	out := make(map[string]any, len(p.Settings)+len(over))
	for k, v := range p.Settings {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
