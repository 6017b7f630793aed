// Package policytest checks a policy pack the way `provost policy test`
// does: every *_test.rego of rego/<pack> under OPA's test runner (with the
// pack's pure-Rego hooks, exactly as stock `opa test` runs them), the
// Casbin model and the pack's CSV, the agreement of the pack's test data
// with the CSV's role inheritance, and the pack's compilation against
// Provost's built-ins.
package policytest

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/pack"
	"github.com/provost-lms/provost/internal/scope"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// Report is the outcome of a pack's checks.
type Report struct {
	Pack     string
	Passed   int
	Failed   []string // test names and failure messages
	Problems []string // Casbin and compilation problems
}

// OK reports whether every check passed.
func (r Report) OK() bool { return len(r.Failed) == 0 && len(r.Problems) == 0 && r.Passed > 0 }

// Run checks pack name in policyDir. tmpDir holds a scratch store.
func Run(ctx context.Context, policyDir, name, tmpDir string) (Report, error) {
	rep := Report{Pack: name}
	p, err := pack.Load(policyDir, name)
	if err != nil {
		return rep, err
	}
	results, err := tester.Run(ctx, p.RegoDir)
	if err != nil {
		return rep, fmt.Errorf("rego tests of %s: %w", name, err)
	}
	for _, r := range results {
		switch {
		case r.Pass():
			rep.Passed++
		case r.Error != nil:
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s.%s: ERROR %v", r.Package, r.Name, r.Error))
		default:
			loc := ""
			if r.Location != nil {
				loc = fmt.Sprintf(" (%s:%d)", r.Location.File, r.Location.Row)
			}
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s.%s: FAIL%s", r.Package, r.Name, loc))
		}
	}
	if len(results) == 0 {
		rep.Problems = append(rep.Problems, "no *_test.rego tests in "+p.RegoDir)
	}
	rep.Problems = append(rep.Problems, checkCasbin(p)...)
	rep.Problems = append(rep.Problems, checkCompile(ctx, policyDir, name, tmpDir)...)
	return rep, nil
}

// checkCasbin loads the model and CSV with Casbin and checks the lines.
func checkCasbin(p *pack.Pack) []string {
	var probs []string
	e, err := casbin.NewEnforcer(p.ModelPath, p.CSVPath)
	if err != nil {
		return []string{fmt.Sprintf("casbin: %v", err)}
	}
	kinds := []string{scope.Global, scope.Org, scope.Course, scope.Library, scope.Cohort}
	ps, _ := e.GetPolicy()
	if len(ps) == 0 {
		probs = append(probs, p.CSVPath+": no p lines (roles valid at each kind of scope)")
	}
	for _, line := range ps {
		if len(line) != 2 || !slices.Contains(kinds, line[1]) {
			probs = append(probs, fmt.Sprintf("%s: p line %v: want p, role, kind with kind one of %v", p.CSVPath, line, kinds))
		}
	}
	gs, _ := e.GetGroupingPolicy()
	edges := map[string][]string{}
	for _, line := range gs {
		if len(line) != 3 || line[2] != "*" {
			probs = append(probs, fmt.Sprintf("%s: g line %v: the pack's CSV holds only inheritance lines g, role, implied, * (assignments live in the store)", p.CSVPath, line))
			continue
		}
		edges[line[0]] = append(edges[line[0]], line[1])
	}
	// The pure-Rego hooks' data.store.implies must be the closure of the CSV.
	want := map[string][]string{}
	for r := range edges {
		seen := map[string]bool{}
		stack := slices.Clone(edges[r])
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !seen[x] && x != r {
				seen[x] = true
				stack = append(stack, edges[x]...)
			}
		}
		for x := range seen {
			want[r] = append(want[r], x)
		}
		slices.Sort(want[r])
	}
	got := map[string][]string{}
	for path, doc := range p.Data {
		m, _ := doc.(map[string]any)
		st, _ := m["store"].(map[string]any)
		imp, ok := st["implies"].(map[string]any)
		if !ok {
			continue
		}
		for r, list := range imp {
			l, _ := list.([]any)
			for _, x := range l {
				if s, ok := x.(string); ok {
					got[r] = append(got[r], s)
				}
			}
			slices.Sort(got[r])
		}
		if !reflect.DeepEqual(got, want) {
			probs = append(probs, fmt.Sprintf("%s: store.implies %v does not match the inheritance of %s %v", filepath.Base(path), got, p.CSVPath, want))
		}
	}
	return probs
}

// checkCompile compiles the pack against Provost's built-ins over an empty store.
func checkCompile(ctx context.Context, policyDir, name, tmpDir string) []string {
	st, err := boltstore.Open(filepath.Join(tmpDir, "policytest.db"), boltstore.Options{})
	if err != nil {
		return []string{fmt.Sprintf("scratch store: %v", err)}
	}
	defer st.Close()
	e, err := engine.Open(ctx, engine.Options{Store: st, PolicyDir: policyDir, Pack: name})
	if err != nil {
		return []string{fmt.Sprintf("compile with Provost's built-ins: %v", err)}
	}
	defer e.Close()
	return nil
}

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	for _, f := range r.Failed {
		fmt.Fprintln(&b, f)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(&b, p)
	}
	status := "PASS"
	if !r.OK() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s: pack %s: %d rego tests passed, %d failed, %d other problems\n", status, r.Pack, r.Passed, len(r.Failed), len(r.Problems))
	return b.String()
}
