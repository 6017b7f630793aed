// Package boltadapter is a Casbin adapter over Provost's store (bbolt, or
// any store.Store). It loads the pack's static lines from policies/<pack>.csv
// (role validity p lines and role inheritance g lines in the "*" scope) and
// every role assignment of the store as g lines (g, user, role, scope). It
// implements persist.BatchAdapter: added or removed assignments are written
// to the store in one transaction. The pack's own lines are read-only here:
// they are edited in the CSV file.
package boltadapter

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	fileadapter "github.com/casbin/casbin/v2/persist/file-adapter"

	"github.com/provost-lms/provost/internal/store"
)

// ErrReadOnlyLine is returned when a write targets a pack line, which lives
// in policies/<pack>.csv.
var ErrReadOnlyLine = errors.New("pack lines are edited in policies/<pack>.csv, not through the adapter")

// Adapter loads pack lines from a CSV file and assignments from a store.
type Adapter struct {
	packFile string
	store    store.Store
}

var _ persist.BatchAdapter = (*Adapter)(nil)

// New returns an adapter for the pack file (may be "" for none) and store.
func New(packFile string, st store.Store) *Adapter {
	return &Adapter{packFile: packFile, store: st}
}

// LoadPolicy loads the pack lines and then every stored assignment.
func (a *Adapter) LoadPolicy(m model.Model) error {
	if a.packFile != "" {
		if err := fileadapter.NewAdapter(a.packFile).LoadPolicy(m); err != nil {
			return fmt.Errorf("load %s: %w", a.packFile, err)
		}
	}
	gAssert, err := m.GetAssertion("g", "g")
	if err != nil {
		return err
	}
	return a.store.ForEachAssignment(context.Background(), store.AssignmentFilter{}, func(as store.Assignment) error {
		rule := []string{as.User, as.Role, as.Scope}
		gAssert.Policy = append(gAssert.Policy, rule)
		gAssert.PolicyMap[as.User+model.DefaultSep+as.Role+model.DefaultSep+as.Scope] = len(gAssert.Policy) - 1
		return nil
	})
}

// SavePolicy writes the model's assignments to the store: assignments
// missing from the model are revoked and new ones granted, in one
// transaction. Pack lines are not saved.
func (a *Adapter) SavePolicy(m model.Model) error {
	rules, err := m.GetPolicy("g", "g")
	if err != nil {
		return err
	}
	want := map[store.Assignment]bool{}
	for _, rule := range rules {
		if as, ok := assignment(rule); ok {
			want[as] = true
		}
	}
	var c store.Change
	err = a.store.ForEachAssignment(context.Background(), store.AssignmentFilter{}, func(as store.Assignment) error {
		if want[as] {
			delete(want, as)
		} else {
			c.Revoke = append(c.Revoke, as)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for as := range want {
		c.Grant = append(c.Grant, as)
	}
	if c.Empty() {
		return nil
	}
	c.Audit = []store.AuditEntry{{Caller: "casbin", Action: "policy.save", Target: "assignments",
		Details: map[string]any{"granted": len(c.Grant), "revoked": len(c.Revoke)}}}
	return a.store.Apply(context.Background(), c)
}

func assignment(rule []string) (store.Assignment, bool) {
	if len(rule) != 3 || rule[2] == "*" {
		return store.Assignment{}, false
	}
	return store.Assignment{User: rule[0], Role: rule[1], Scope: rule[2]}, true
}

func (a *Adapter) change(sec, ptype string, rules [][]string, grant bool) error {
	if sec != "g" || ptype != "g" {
		return fmt.Errorf("%w: %s lines", ErrReadOnlyLine, ptype)
	}
	var c store.Change
	for _, rule := range rules {
		as, ok := assignment(rule)
		if !ok {
			return fmt.Errorf("%w: %v", ErrReadOnlyLine, rule)
		}
		if grant {
			c.Grant = append(c.Grant, as)
		} else {
			c.Revoke = append(c.Revoke, as)
		}
	}
	return a.store.Apply(context.Background(), c)
}

// AddPolicy grants one assignment.
func (a *Adapter) AddPolicy(sec, ptype string, rule []string) error {
	return a.change(sec, ptype, [][]string{rule}, true)
}

// RemovePolicy revokes one assignment.
func (a *Adapter) RemovePolicy(sec, ptype string, rule []string) error {
	return a.change(sec, ptype, [][]string{rule}, false)
}

// AddPolicies grants assignments in one transaction.
func (a *Adapter) AddPolicies(sec, ptype string, rules [][]string) error {
	return a.change(sec, ptype, rules, true)
}

// RemovePolicies revokes assignments in one transaction.
func (a *Adapter) RemovePolicies(sec, ptype string, rules [][]string) error {
	return a.change(sec, ptype, rules, false)
}

// RemoveFilteredPolicy revokes the assignments matching the field filter.
// A filter that matches a pack line (an inheritance line in the "*" scope)
// fails with ErrReadOnlyLine and revokes nothing: Casbin would otherwise
// drop that line from the model while the pack file keeps it.
func (a *Adapter) RemoveFilteredPolicy(sec, ptype string, fieldIndex int, fieldValues ...string) error {
	if sec != "g" || ptype != "g" {
		return fmt.Errorf("%w: %s lines", ErrReadOnlyLine, ptype)
	}
	packLines, err := a.packRules(ptype)
	if err != nil {
		return err
	}
	if i := 2 - fieldIndex; i >= 0 && i < len(fieldValues) && fieldValues[i] == "*" {
		return fmt.Errorf("%w: filter %d %q selects the \"*\" scope", ErrReadOnlyLine, fieldIndex, fieldValues)
	}
	for _, line := range packLines {
		if filterMatches(line, fieldIndex, fieldValues) {
			return fmt.Errorf("%w: filter %d %q matches the pack line %v", ErrReadOnlyLine, fieldIndex, fieldValues, line)
		}
	}
	var c store.Change
	err = a.store.ForEachAssignment(context.Background(), store.AssignmentFilter{}, func(as store.Assignment) error {
		if filterMatches([]string{as.User, as.Role, as.Scope}, fieldIndex, fieldValues) {
			c.Revoke = append(c.Revoke, as)
		}
		return nil
	})
	if err != nil || c.Empty() {
		return err
	}
	return a.store.Apply(context.Background(), c)
}

// filterMatches reports whether Casbin's field filter matches fields; an
// empty value matches anything.
func filterMatches(fields []string, fieldIndex int, values []string) bool {
	for i, v := range values {
		j := fieldIndex + i
		if v != "" && (j < 0 || j >= len(fields) || fields[j] != v) {
			return false
		}
	}
	return true
}

// packRules returns the pack file's lines of ptype, without the ptype,
// parsed the way Casbin's file adapter parses them.
func (a *Adapter) packRules(ptype string) ([][]string, error) {
	if a.packFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(a.packFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", a.packFile, err)
	}
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(line))
		r.Comment = '#'
		r.TrimLeadingSpace = true
		tokens, err := r.Read()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.packFile, err)
		}
		if len(tokens) > 1 && tokens[0] == ptype {
			out = append(out, tokens[1:])
		}
	}
	return out, nil
}
