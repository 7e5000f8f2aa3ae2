package engine

import (
	"context"
	"sync"
)

// slot is a fair (FIFO) lock around the resident model: one generation or
// load runs at a time, waiters are served in arrival order, and a waiter
// whose context ends leaves the queue at once.
type slot struct {
	mu       sync.Mutex
	busy     bool
	queue    []*waiter
	maxQueue int // 0: unbounded
	closed   bool
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under mu when the slot is handed to this waiter
	closed  bool // set under mu when the slot closed while this one waited
}

// acquire waits for the slot. It returns ErrQueueFull when maxQueue requests
// already wait, ctx.Err() when ctx ends first, ErrClosed after close.
func (s *slot) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.busy && len(s.queue) == 0 {
		s.busy = true
		s.mu.Unlock()
		return nil
	}
	if s.maxQueue > 0 && len(s.queue) >= s.maxQueue {
		s.mu.Unlock()
		return ErrQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	s.queue = append(s.queue, w)
	s.mu.Unlock()

	select {
	case <-w.ready:
		if w.closed {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if w.granted {
			// The slot arrived as the context ended: pass it on.
			s.mu.Unlock()
			s.release()
			return ctx.Err()
		}
		for i, q := range s.queue {
			if q == w {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// release hands the slot to the next waiter, or frees it.
func (s *slot) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		w := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		w.granted = true
		close(w.ready)
		return
	}
	s.busy = false
}

// waiting is the number of queued requests (not counting the running one).
func (s *slot) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// closeAndAcquire fails every queued and future waiter with ErrClosed and
// returns once the running holder (if any) has released the slot, leaving
// it held for good.
func (s *slot) closeAndAcquire() {
	s.mu.Lock()
	s.closed = true
	for _, w := range s.queue {
		w.closed = true
		close(w.ready)
	}
	s.queue = nil
	if !s.busy {
		s.busy = true
		s.mu.Unlock()
		return
	}
	w := &waiter{ready: make(chan struct{})}
	s.queue = append(s.queue, w)
	s.mu.Unlock()
	<-w.ready
}
