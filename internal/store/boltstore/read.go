package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/provost-lms/provost/internal/store"
)

// ctxEvery is how many items a ForEach visits between checks of ctx.
const ctxEvery = 256

// GetUser returns the stored user id, or an error wrapping store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("user %q: %w", id, store.ErrNotFound)
		}
		return decodeUser([]byte(id), v, &u)
	})
	return u, err
}

func decodeUser(k, v []byte, u *store.User) error {
	if err := json.Unmarshal(v, u); err != nil {
		return fmt.Errorf("boltstore: decode user %q: %w", k, err)
	}
	u.ID = string(k)
	return nil
}

// ForEachUser calls fn for every stored user in id (byte) order until fn
// returns an error, which it returns unchanged. See the package doc: fn runs
// inside a read transaction and must not call back into the Store.
func (s *Store) ForEachUser(ctx context.Context, fn func(store.User) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketUsers).Cursor()
		n := 0
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if err := tick(ctx, &n); err != nil {
				return err
			}
			var u store.User
			if err := decodeUser(k, v, &u); err != nil {
				return err
			}
			if err := fn(u); err != nil {
				return err
			}
		}
		return nil
	})
}

// tick checks ctx every ctxEvery calls.
func tick(ctx context.Context, n *int) error {
	*n++
	if *n%ctxEvery == 0 {
		return ctx.Err()
	}
	return nil
}

// ForEachAssignment calls fn for every assignment matching f, in (user,
// scope, role) byte order, until fn returns an error, which it returns
// unchanged. A filter with a user reads only that user's keys; one with a
// scope but no user reads the scope index; a role-only or empty filter scans
// every assignment. fn must not call back into the Store (see the package
// doc).
func (s *Store) ForEachAssignment(ctx context.Context, f store.AssignmentFilter, fn func(store.Assignment) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		var (
			b      *bolt.Bucket
			prefix []byte
			decode func(k []byte) (store.Assignment, bool)
		)
		switch {
		case f.User != "":
			b, decode = tx.Bucket(bucketAssignments), decodeAssignment
			if f.Scope != "" {
				prefix = join(f.User, f.Scope, "")
			} else {
				prefix = join(f.User, "")
			}
		case f.Scope != "":
			// Within one scope, index order (user, role) is (user, scope, role) order.
			b, decode, prefix = tx.Bucket(bucketByScope), decodeScopeIndex, join(f.Scope, "")
		default:
			b, decode = tx.Bucket(bucketAssignments), decodeAssignment
		}
		cur := b.Cursor()
		n := 0
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			if err := tick(ctx, &n); err != nil {
				return err
			}
			a, ok := decode(k)
			if !ok || !f.Match(a) {
				continue
			}
			if err := fn(a); err != nil {
				return err
			}
		}
		return nil
	})
}

func decodeAssignment(k []byte) (store.Assignment, bool) {
	user, scope, role, ok := split3(k)
	return store.Assignment{User: user, Role: role, Scope: scope}, ok
}

func decodeScopeIndex(k []byte) (store.Assignment, bool) {
	scope, user, role, ok := split3(k)
	return store.Assignment{User: user, Role: role, Scope: scope}, ok
}

// GetResource returns the registered resource, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetResource(ctx context.Context, typ, id string) (store.Resource, error) {
	var r store.Resource
	err := s.view(ctx, func(tx *bolt.Tx) error {
		k := join(typ, id)
		v := tx.Bucket(bucketResources).Get(k)
		if v == nil {
			return fmt.Errorf("resource %s %q: %w", typ, id, store.ErrNotFound)
		}
		return decodeResource(k, v, &r)
	})
	return r, err
}

func decodeResource(k, v []byte, r *store.Resource) error {
	if err := json.Unmarshal(v, r); err != nil {
		return fmt.Errorf("boltstore: decode resource %q: %w", k, err)
	}
	if typ, id, ok := split2(k); ok {
		r.Type, r.ID = typ, id
	}
	return nil
}

// ForEachResource calls fn for every registered resource in (type, id)
// byte order until fn returns an error, which it returns unchanged. fn must
// not call back into the Store (see the package doc).
func (s *Store) ForEachResource(ctx context.Context, fn func(store.Resource) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketResources).Cursor()
		n := 0
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if err := tick(ctx, &n); err != nil {
				return err
			}
			var r store.Resource
			if err := decodeResource(k, v, &r); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetCreatorState returns the stored course-creator state of user, or an
// error wrapping store.ErrNotFound when none is stored.
func (s *Store) GetCreatorState(ctx context.Context, user string) (store.CreatorState, error) {
	var cs store.CreatorState
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCreators).Get([]byte(user))
		if v == nil {
			return fmt.Errorf("creator state of %q: %w", user, store.ErrNotFound)
		}
		if err := json.Unmarshal(v, &cs); err != nil {
			return fmt.Errorf("boltstore: decode creator state %q: %w", user, err)
		}
		cs.User = user
		return nil
	})
	return cs, err
}

// ListAudit returns at most limit entries (DefaultAuditLimit when limit <=
// 0) whose Time is strictly after since, ordered by Time and, for equal
// times, by sequence number. Times are in UTC. The slice is never nil when
// err is nil.
func (s *Store) ListAudit(ctx context.Context, since time.Time, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	out := []store.AuditEntry{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if since.After(maxTime) {
			return nil
		}
		audit := tx.Bucket(bucketAudit)
		cur := tx.Bucket(bucketAuditByTime).Cursor()
		var k []byte
		if since.Before(minTime) {
			k, _ = cur.First()
		} else {
			skip := timeKey(since)
			for k, _ = cur.Seek(skip); k != nil && bytes.HasPrefix(k, skip); k, _ = cur.Next() {
			}
		}
		for ; k != nil && len(out) < limit; k, _ = cur.Next() {
			if len(k) != 16 {
				continue
			}
			seq := binary.BigEndian.Uint64(k[8:])
			v := audit.Get(k[8:])
			if v == nil {
				continue
			}
			var e store.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("boltstore: decode audit entry %d: %w", seq, err)
			}
			e.Seq = seq
			e.Time = e.Time.UTC()
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
