package cpu

import "sync"

// pool is a persistent set of worker goroutines. parallel splits a range of
// work items across them; the calling goroutine takes the first share, so a
// one-thread pool runs everything inline without any synchronization.
type pool struct {
	n      int
	tasks  []chan poolTask
	wg     sync.WaitGroup
	bounds [][2]int // reused by parallel: no allocation per call
}

type poolTask struct {
	fn             func(worker, lo, hi int)
	worker, lo, hi int
}

func newPool(n int) *pool {
	p := &pool{n: n, bounds: make([][2]int, 0, n)}
	for w := 1; w < n; w++ {
		ch := make(chan poolTask, 1)
		p.tasks = append(p.tasks, ch)
		go func() {
			for t := range ch {
				t.fn(t.worker, t.lo, t.hi)
				p.wg.Done()
			}
		}()
	}
	return p
}

// parallel runs fn over [0, n) split into at most p.n contiguous chunks whose
// boundaries are multiples of align (align >= 1), and waits for all of them.
func (p *pool) parallel(n, align int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	if align < 1 {
		align = 1
	}
	units := (n + align - 1) / align
	workers := p.n
	if workers > units {
		workers = units
	}
	if workers <= 1 {
		fn(0, 0, n)
		return
	}
	per := units / workers
	extra := units % workers
	lo := 0
	bounds := p.bounds[:0]
	for w := 0; w < workers; w++ {
		u := per
		if w < extra {
			u++
		}
		hi := lo + u*align
		if hi > n {
			hi = n
		}
		bounds = append(bounds, [2]int{lo, hi})
		lo = hi
	}
	p.wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		p.tasks[w-1] <- poolTask{fn: fn, worker: w, lo: bounds[w][0], hi: bounds[w][1]}
	}
	fn(0, bounds[0][0], bounds[0][1])
	p.wg.Wait()
}

func (p *pool) close() {
	for _, ch := range p.tasks {
		close(ch)
	}
	p.tasks = nil
}
