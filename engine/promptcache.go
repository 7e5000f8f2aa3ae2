package engine

import "sync"

// kvCache is a model's per-sequence KV cache (model.Cache).
type kvCache interface {
	Len() int
	Truncate(n int) // keep the first n positions
	Release()
}

// cacheEntry is a KV cache with the token ids of the positions it holds.
type cacheEntry struct {
	key     string
	c       kvCache
	tokens  []int32
	lastUse uint64
}

// cachePool keeps recently used KV caches so a conversation's next turn
// prefills only its new tokens. A generation takes an entry out (exclusive
// use) and puts it back when done.
type cachePool struct {
	mu      sync.Mutex
	max     int // 0: caching off
	clock   uint64
	entries []*cacheEntry
}

// take removes and returns the entry to continue from: the one with key, or
// for an empty key the anonymous entry sharing the longest prefix with
// prompt. nil when there is none worth using.
func (p *cachePool) take(key string, prompt []int32) *cacheEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	best, bestLen := -1, 0
	for i, e := range p.entries {
		if key != "" {
			if e.key == key {
				best = i
				break
			}
			continue
		}
		if e.key != "" {
			continue
		}
		if n := commonPrefix(e.tokens, prompt); n > bestLen {
			best, bestLen = i, n
		}
	}
	if best < 0 {
		return nil
	}
	e := p.entries[best]
	p.entries = append(p.entries[:best], p.entries[best+1:]...)
	return e
}

// put returns an entry to the pool, evicting the least recently used
// entries beyond the pool's size.
func (p *cachePool) put(e *cacheEntry) {
	p.mu.Lock()
	if p.max <= 0 {
		p.mu.Unlock()
		e.c.Release()
		return
	}
	p.clock++
	e.lastUse = p.clock
	p.entries = append(p.entries, e)
	var evict []*cacheEntry
	for len(p.entries) > p.max {
		oldest := 0
		for i, x := range p.entries {
			if x.lastUse < p.entries[oldest].lastUse {
				oldest = i
			}
		}
		evict = append(evict, p.entries[oldest])
		p.entries = append(p.entries[:oldest], p.entries[oldest+1:]...)
	}
	p.mu.Unlock()
	for _, x := range evict {
		x.c.Release()
	}
}

// forget releases the entry kept under key.
func (p *cachePool) forget(key string) {
	if key == "" {
		return
	}
	p.mu.Lock()
	var drop []*cacheEntry
	kept := p.entries[:0]
	for _, e := range p.entries {
		if e.key == key {
			drop = append(drop, e)
		} else {
			kept = append(kept, e)
		}
	}
	p.entries = kept
	p.mu.Unlock()
	for _, e := range drop {
		e.c.Release()
	}
}

// clear releases every entry (the model is going away).
func (p *cachePool) clear() {
	p.mu.Lock()
	all := p.entries
	p.entries = nil
	p.mu.Unlock()
	for _, e := range all {
		e.c.Release()
	}
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
