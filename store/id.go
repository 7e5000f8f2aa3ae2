package store

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// Identifiers are ULID-shaped: 26 characters of Crockford base32 holding a 48-bit
// Unix-millisecond timestamp followed by 80 random bits. They sort as strings in
// creation order, which the list and transcript queries rely on for tie-breaking,
// and they need no coordination between processes sharing the database.

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idSource makes identifiers monotonic within one process: two ids minted in the
// same millisecond differ by an increment of the random part, so they still sort
// in the order they were made.
type idSource struct {
	mu     sync.Mutex
	lastMs uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 of the 80 random bits
}

var idGen idSource

// NewID returns a new sortable identifier (26 characters, Crockford base32).
func NewID() string { return idGen.next(time.Now()) }

func (s *idSource) next(now time.Time) string {
	ms := uint64(now.UnixMilli())
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms <= s.lastMs {
		// Same (or a clock that went back) millisecond: keep the previous timestamp
		// and increment, which preserves ordering.
		ms = s.lastMs
		s.lo++
		if s.lo == 0 {
			s.hi++
		}
	} else {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			// crypto/rand never fails on supported platforms; fall back to the clock.
			binary.BigEndian.PutUint64(b[2:], uint64(now.UnixNano()))
		}
		s.hi = binary.BigEndian.Uint16(b[:2])
		s.lo = binary.BigEndian.Uint64(b[2:])
		s.lastMs = ms
	}
	return encodeID(ms, s.hi, s.lo)
}

// encodeID writes the 128-bit value (48-bit ms, 80-bit random) as 26 base32 digits,
// most significant first.
func encodeID(ms uint64, hi uint16, lo uint64) string {
	var out [26]byte
	// 128 bits = hi64:lo64 with hi64 = ms<<16 | hi.
	h := ms<<16 | uint64(hi)
	l := lo
	for i := 25; i >= 0; i-- {
		out[i] = crockford[l&31]
		l = l>>5 | h<<59
		h >>= 5
	}
	return string(out[:])
}
