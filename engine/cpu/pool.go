package cpu

import (
	"sync/atomic"
	"time"
)

// pool is a persistent set of worker goroutines for the fork-join sections
// of a forward step (one per matmul, attention, gating: a few hundred per
// decoded token, each tens of microseconds).
//
// Work is split into small chunks claimed from an atomic counter by the
// caller and whichever workers are running, so a worker the OS has
// descheduled (the machine may be shared) delays nothing: the others take
// its chunks. Waking a parked goroutine costs about as much as a section, so
// idle workers spin on the job pointer for a while before parking.
type pool struct {
	n    int
	cur  atomic.Pointer[job]
	quit atomic.Bool

	wake     []chan struct{} // per worker (index 0 unused), buffered
	sleeping []atomic.Bool
}

// job is one parallel section. A fresh record per section keeps its fields
// immutable once published: a worker that wakes late and still holds an
// old record finds all its chunks claimed and leaves it.
type job struct {
	fn       func(worker, lo, hi int)
	n, chunk int
	chunks   int64
	claimed  atomic.Int64
	done     atomic.Int64
}

// spinTime is how long an idle worker polls for the next job before it
// parks; decode steps issue jobs far more often than this.
const spinTime = 100 * time.Microsecond

func newPool(n int) *pool {
	p := &pool{n: n, wake: make([]chan struct{}, n), sleeping: make([]atomic.Bool, n)}
	for w := 1; w < n; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// run claims and runs chunks of j until none are left.
func (j *job) run(worker int) {
	for {
		c := j.claimed.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(c) * j.chunk
		j.fn(worker, lo, min(lo+j.chunk, j.n))
		j.done.Add(1)
	}
}

func (p *pool) worker(w int) {
	var last *job
	for {
		spinStart := time.Now()
		j := p.cur.Load()
		for i := 0; j == last; i++ {
			if p.quit.Load() {
				return
			}
			if i&63 == 63 {
				osYield()
			}
			if i&255 == 255 && time.Since(spinStart) > spinTime {
				// park; re-check after announcing it so that a job
				// published in between is not missed.
				p.sleeping[w].Store(true)
				if p.cur.Load() == last && !p.quit.Load() {
					<-p.wake[w]
				}
				p.sleeping[w].Store(false)
				spinStart = time.Now()
			}
			j = p.cur.Load()
		}
		last = j
		j.run(w)
	}
}

// parallel runs fn over [0, n) in chunks whose boundaries are multiples of
// align (align >= 1), about four per thread, and waits for all of them.
// It must not be called concurrently or from within fn.
func (p *pool) parallel(n, align int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	if align < 1 {
		align = 1
	}
	units := (n + align - 1) / align
	if p.n <= 1 || units <= 1 {
		fn(0, 0, n)
		return
	}
	perChunk := max(1, units/(4*p.n))
	j := &job{fn: fn, n: n, chunk: perChunk * align}
	j.chunks = int64((n + j.chunk - 1) / j.chunk)
	p.cur.Store(j)
	for w := 1; w < p.n; w++ {
		if p.sleeping[w].Load() {
			select {
			case p.wake[w] <- struct{}{}:
			default:
			}
		}
	}
	j.run(0)
	for i := 0; j.done.Load() < j.chunks; i++ {
		if i&63 == 63 {
			osYield()
		}
	}
}

func (p *pool) close() {
	p.quit.Store(true)
	for w := 1; w < p.n; w++ {
		select {
		case p.wake[w] <- struct{}{}:
		default:
		}
	}
}
