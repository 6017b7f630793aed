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
	"errors"
	"fmt"

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
func (a *Adapter) RemoveFilteredPolicy(sec, ptype string, fieldIndex int, fieldValues ...string) error {
	if sec != "g" || ptype != "g" {
		return fmt.Errorf("%w: %s lines", ErrReadOnlyLine, ptype)
	}
	var c store.Change
	err := a.store.ForEachAssignment(context.Background(), store.AssignmentFilter{}, func(as store.Assignment) error {
		fields := []string{as.User, as.Role, as.Scope}
		for i, v := range fieldValues {
			if v != "" && (fieldIndex+i >= len(fields) || fields[fieldIndex+i] != v) {
				return nil
			}
		}
		c.Revoke = append(c.Revoke, as)
		return nil
	})
	if err != nil || c.Empty() {
		return err
	}
	return a.store.Apply(context.Background(), c)
}
