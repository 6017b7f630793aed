package boltstore

import (
	"bytes"
	"encoding/binary"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// join concatenates parts separated by NUL. Because validated ids contain no
// NUL, byte order of joined keys equals the tuple order of their parts, and
// join(a, "") is an exact prefix of every key whose first part is a.
func join(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// split3 splits a key written by join with three parts.
func split3(k []byte) (a, b, c string, ok bool) {
	parts := bytes.SplitN(k, []byte{0}, 3)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

// split2 splits a key written by join with two parts.
func split2(k []byte) (a, b string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// assignmentKey is the key in the assignments bucket: user, scope, role.
func assignmentKey(user, scope, role string) []byte { return join(user, scope, role) }

// scopeIndexKey is the key in assignments_by_scope: scope, user, role.
func scopeIndexKey(user, scope, role string) []byte { return join(scope, user, role) }

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeInRange reports whether t can be encoded by timeKey.
func timeInRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// timeKey encodes t (which must be in range) as 8 bytes whose byte order is
// time order.
func timeKey(t time.Time) []byte { return u64(uint64(t.UnixNano()) ^ (1 << 63)) }

// auditTimeKey is the key in audit_by_time: time, then sequence.
func auditTimeKey(t time.Time, seq uint64) []byte {
	return append(timeKey(t), u64(seq)...)
}

// Counters kept in the meta bucket, so Stats costs O(1).
const (
	cntUsers = iota
	cntAssignments
	cntResources
	cntAudit
	numCounters
)

var counterKeys = [numCounters][]byte{
	cntUsers:       []byte("count_users"),
	cntAssignments: []byte("count_assignments"),
	cntResources:   []byte("count_resources"),
	cntAudit:       []byte("count_audit"),
}

type counters [numCounters]int64

func loadCounters(meta *bolt.Bucket) counters {
	var c counters
	for i, k := range counterKeys {
		if v := meta.Get(k); len(v) == 8 {
			c[i] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return c
}

func (c *counters) save(meta *bolt.Bucket, old counters) error {
	for i, k := range counterKeys {
		if c[i] == old[i] {
			continue
		}
		if err := meta.Put(k, u64(uint64(c[i]))); err != nil {
			return err
		}
	}
	return nil
}
