package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/provost-lms/provost/internal/store"
)

// Creator states that may be stored; "" in a Change deletes the stored state.
var storableCreatorStates = map[string]bool{"unrequested": true, "pending": true, "denied": true}

// Apply commits the whole Change in one fsynced bbolt transaction, or
// nothing. It first validates and encodes every element, so a Change with
// an invalid element fails with an error wrapping ErrInvalid and writes
// nothing. Within the transaction it applies, in order: DeleteUsers (each
// also removes the user's assignments and creator state), DeleteResources,
// Revoke, PutUsers, Grant, PutResources, CreatorStates (in slice order;
// State "" deletes) and Audit (each gets the next sequence number; a zero
// Time becomes time.Now().UTC()). Deleting or revoking something absent and
// granting something held are no-ops. Apply on a read-only store fails with
// ErrReadOnly, on a closed store with store.ErrClosed, and with ctx.Err() if
// ctx is done before the transaction starts. Each Apply costs two fsyncs,
// so bulk loads should put many elements in one Change.
func (s *Store) Apply(ctx context.Context, c store.Change) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("boltstore: apply to %s: %w", s.path, ErrReadOnly)
	}
	if c.Empty() {
		return nil
	}
	p, err := prepare(c, time.Now().UTC())
	if err != nil {
		return err
	}
	return translate(s.db.Update(p.apply))
}

type kv struct{ k, v []byte }

// prepared is a validated Change with every key and value encoded.
type prepared struct {
	deleteUsers     []string
	deleteResources [][]byte
	revoke          []store.Assignment
	putUsers        []kv
	grant           []store.Assignment
	putResources    []kv
	creators        []kv // v == nil deletes
	audit           []auditRecord
}

type auditRecord struct {
	t time.Time
	v []byte
}

func invalid(where, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, where, fmt.Sprintf(format, args...))
}

// checkID enforces what keys need: non-empty, bounded, UTF-8, no NUL.
func checkID(where, id string) error {
	switch {
	case id == "":
		return invalid(where, "empty")
	case len(id) > MaxIDLen:
		return invalid(where, "longer than %d bytes", MaxIDLen)
	case strings.IndexByte(id, 0) >= 0:
		return invalid(where, "contains a NUL byte")
	case !utf8.ValidString(id):
		return invalid(where, "not valid UTF-8")
	}
	return nil
}

func checkAssignment(where string, a store.Assignment) error {
	if err := checkID(where+".user", a.User); err != nil {
		return err
	}
	if err := checkID(where+".role", a.Role); err != nil {
		return err
	}
	return checkID(where+".scope", a.Scope)
}

func encode(where string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalid(where, "%v", err)
	}
	return b, nil
}

// prepare validates c and encodes its values; now fills zero audit times.
func prepare(c store.Change, now time.Time) (*prepared, error) {
	p := &prepared{}
	for i, id := range c.DeleteUsers {
		if err := checkID(fmt.Sprintf("delete_users[%d]", i), id); err != nil {
			return nil, err
		}
		p.deleteUsers = append(p.deleteUsers, id)
	}
	for i, rk := range c.DeleteResources {
		where := fmt.Sprintf("delete_resources[%d]", i)
		if err := checkID(where+".type", rk.Type); err != nil {
			return nil, err
		}
		if err := checkID(where+".id", rk.ID); err != nil {
			return nil, err
		}
		p.deleteResources = append(p.deleteResources, join(rk.Type, rk.ID))
	}
	for i, a := range c.Revoke {
		if err := checkAssignment(fmt.Sprintf("revoke[%d]", i), a); err != nil {
			return nil, err
		}
		p.revoke = append(p.revoke, a)
	}
	for i, u := range c.PutUsers {
		where := fmt.Sprintf("put_users[%d]", i)
		if err := checkID(where+".id", u.ID); err != nil {
			return nil, err
		}
		v, err := encode(where, u)
		if err != nil {
			return nil, err
		}
		p.putUsers = append(p.putUsers, kv{[]byte(u.ID), v})
	}
	for i, a := range c.Grant {
		if err := checkAssignment(fmt.Sprintf("grant[%d]", i), a); err != nil {
			return nil, err
		}
		p.grant = append(p.grant, a)
	}
	for i, r := range c.PutResources {
		where := fmt.Sprintf("put_resources[%d]", i)
		if err := checkID(where+".type", r.Type); err != nil {
			return nil, err
		}
		if err := checkID(where+".id", r.ID); err != nil {
			return nil, err
		}
		v, err := encode(where, r)
		if err != nil {
			return nil, err
		}
		p.putResources = append(p.putResources, kv{join(r.Type, r.ID), v})
	}
	for i, cs := range c.CreatorStates {
		where := fmt.Sprintf("creator_states[%d]", i)
		if err := checkID(where+".user", cs.User); err != nil {
			return nil, err
		}
		if cs.State == "" {
			p.creators = append(p.creators, kv{[]byte(cs.User), nil})
			continue
		}
		if !storableCreatorStates[cs.State] {
			return nil, invalid(where+".state", "%q is not storable (want unrequested, pending, denied, or \"\" to delete)", cs.State)
		}
		v, err := encode(where, cs)
		if err != nil {
			return nil, err
		}
		p.creators = append(p.creators, kv{[]byte(cs.User), v})
	}
	for i, e := range c.Audit {
		where := fmt.Sprintf("audit[%d]", i)
		if e.Time.IsZero() {
			e.Time = now
		}
		if !timeInRange(e.Time) {
			return nil, invalid(where+".time", "%s is outside the years 1678..2262", e.Time)
		}
		e.Time = e.Time.UTC()
		v, err := encode(where, e)
		if err != nil {
			return nil, err
		}
		p.audit = append(p.audit, auditRecord{e.Time, v})
	}
	return p, nil
}

type buckets struct {
	meta, users, assignments, byScope, resources, creators, audit, auditByTime *bolt.Bucket
}

func openBuckets(tx *bolt.Tx) buckets {
	return buckets{
		meta:        tx.Bucket(bucketMeta),
		users:       tx.Bucket(bucketUsers),
		assignments: tx.Bucket(bucketAssignments),
		byScope:     tx.Bucket(bucketByScope),
		resources:   tx.Bucket(bucketResources),
		creators:    tx.Bucket(bucketCreators),
		audit:       tx.Bucket(bucketAudit),
		auditByTime: tx.Bucket(bucketAuditByTime),
	}
}

// exists reports whether key k is in b, whatever its value.
func exists(b *bolt.Bucket, k []byte) bool {
	got, _ := b.Cursor().Seek(k)
	return got != nil && bytes.Equal(got, k)
}

// del deletes k from b and reports whether it was there.
func del(b *bolt.Bucket, k []byte) (bool, error) {
	if !exists(b, k) {
		return false, nil
	}
	return true, b.Delete(k)
}

// put stores k in b and reports whether it is new.
func put(b *bolt.Bucket, k, v []byte) (bool, error) {
	isNew := !exists(b, k)
	return isNew, b.Put(k, v)
}

// apply writes p inside the read-write transaction tx.
func (p *prepared) apply(tx *bolt.Tx) error {
	b := openBuckets(tx)
	old := loadCounters(b.meta)
	c := old
	count := func(i int, changed bool, delta int64, err error) error {
		if changed {
			c[i] += delta
		}
		return err
	}

	for _, id := range p.deleteUsers {
		ok, err := del(b.users, []byte(id))
		if err := count(cntUsers, ok, -1, err); err != nil {
			return err
		}
		n, err := deleteUserAssignments(b, id)
		c[cntAssignments] -= n
		if err != nil {
			return err
		}
		if _, err := del(b.creators, []byte(id)); err != nil {
			return err
		}
	}
	for _, k := range p.deleteResources {
		ok, err := del(b.resources, k)
		if err := count(cntResources, ok, -1, err); err != nil {
			return err
		}
	}
	for _, a := range p.revoke {
		ok, err := del(b.assignments, assignmentKey(a.User, a.Scope, a.Role))
		if err := count(cntAssignments, ok, -1, err); err != nil {
			return err
		}
		if _, err := del(b.byScope, scopeIndexKey(a.User, a.Scope, a.Role)); err != nil {
			return err
		}
	}
	for _, u := range p.putUsers {
		ok, err := put(b.users, u.k, u.v)
		if err := count(cntUsers, ok, +1, err); err != nil {
			return err
		}
	}
	for _, a := range p.grant {
		ok, err := put(b.assignments, assignmentKey(a.User, a.Scope, a.Role), []byte{})
		if err := count(cntAssignments, ok, +1, err); err != nil {
			return err
		}
		if err := b.byScope.Put(scopeIndexKey(a.User, a.Scope, a.Role), []byte{}); err != nil {
			return err
		}
	}
	for _, r := range p.putResources {
		ok, err := put(b.resources, r.k, r.v)
		if err := count(cntResources, ok, +1, err); err != nil {
			return err
		}
	}
	for _, cs := range p.creators {
		var err error
		if cs.v == nil {
			_, err = del(b.creators, cs.k)
		} else {
			err = b.creators.Put(cs.k, cs.v)
		}
		if err != nil {
			return err
		}
	}
	for _, e := range p.audit {
		seq, err := b.audit.NextSequence()
		if err != nil {
			return err
		}
		if err := b.audit.Put(u64(seq), e.v); err != nil {
			return err
		}
		if err := b.auditByTime.Put(auditTimeKey(e.t, seq), []byte{}); err != nil {
			return err
		}
		c[cntAudit]++
	}
	return c.save(b.meta, old)
}

// deleteUserAssignments removes every assignment of user (and its index
// entries) and returns how many there were.
func deleteUserAssignments(b buckets, user string) (int64, error) {
	prefix := join(user, "")
	var keys [][]byte
	cur := b.assignments.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		u, scope, role, ok := split3(k)
		if err := b.assignments.Delete(k); err != nil {
			return 0, err
		}
		if ok {
			if err := b.byScope.Delete(scopeIndexKey(u, scope, role)); err != nil {
				return 0, err
			}
		}
	}
	return int64(len(keys)), nil
}
