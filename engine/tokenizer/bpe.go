package tokenizer

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// merge is what a pair of adjacent symbols becomes: its priority (the index in
// the merges list, lower first) and the id of the merged token.
type merge struct {
	rank int32
	id   int32
}

// bpeModel is a Hugging Face BPE model with the exact merge order of the Rust
// implementation: repeatedly merge the adjacent pair of lowest rank, leftmost
// first among equal ranks.
type bpeModel struct {
	vocab        map[string]int32
	merges       map[uint64]merge // key: left id << 32 | right id
	unkID        int32            // -1: unknown characters are dropped
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	contPrefix   string
	eowSuffix    string

	byteFallbackIDs [256]int32 // id of "<0xNN>", -1 if absent
	// byteLevelIDs is the id of the byte-level character of each byte, used when
	// words arrive as raw bytes (the ByteLevel pre-tokenizer maps lazily).
	byteLevelIDs [256]int32
	rawVocab     map[string]int32 // byte-level tokens as raw bytes (for ignore_merges on raw words)

	// SentencePiece text without a pre-tokenizer is one long word; it is cut
	// before runs of "▁" wherever no merge can cross the cut (see prepareChunks),
	// which keeps merging linear in practice and lets the cache work.
	chunkSP    bool
	chunkBlock map[rune]bool

	cache wordCache
}

const spaceMark = "▁"

func newBPE(l *loader, rm *rawModel, merges mergeSource) (*bpeModel, error) {
	m := &bpeModel{
		vocab:        rm.Vocab,
		merges:       make(map[uint64]merge, len(rm.Vocab)*2),
		unkID:        -1,
		fuseUnk:      rm.FuseUnk,
		byteFallback: rm.ByteFallback,
		ignoreMerges: rm.IgnoreMerges,
	}
	for tok, id := range m.vocab {
		if id < 0 || id > 1<<30 {
			return nil, l.errf("model.vocab", "token %q has id %d out of range", tok, id)
		}
	}
	if rm.ContinuingSubwordPrefix != nil {
		m.contPrefix = *rm.ContinuingSubwordPrefix
	}
	if rm.EndOfWordSuffix != nil {
		m.eowSuffix = *rm.EndOfWordSuffix
	}
	if rm.UnkToken != nil {
		id, ok := m.vocab[*rm.UnkToken]
		if !ok {
			return nil, l.errf("model.unk_token", "unk_token %q is not in model.vocab", *rm.UnkToken)
		}
		m.unkID = id
	}
	if merges != nil {
		var mergeErr error
		var buf []byte
		err := merges(func(i int, pa, pb []byte) bool {
			a, okA := m.vocab[string(pa)]
			b, okB := m.vocab[string(pb)]
			if !okA || !okB {
				missing := pa
				if okA {
					missing = pb
				}
				mergeErr = l.errf(fmt.Sprintf("model.merges[%d]", i), "merge %q + %q uses %q, which is not in model.vocab", pa, pb, missing)
				return false
			}
			right := pb
			if len(m.contPrefix) > 0 && bytes.HasPrefix(right, []byte(m.contPrefix)) {
				right = right[len(m.contPrefix):]
			}
			buf = append(append(buf[:0], pa...), right...)
			id, ok := m.vocab[string(buf)]
			if !ok {
				mergeErr = l.errf(fmt.Sprintf("model.merges[%d]", i), "merged token %q is not in model.vocab", buf)
				return false
			}
			m.merges[pairKey(a, b)] = merge{rank: int32(i), id: id}
			return true
		})
		if err == nil {
			err = mergeErr
		}
		if err != nil {
			return nil, err
		}
	}
	for b := 0; b < 256; b++ {
		m.byteFallbackIDs[b] = -1
		if id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteFallbackIDs[b] = id
		}
		m.byteLevelIDs[b] = -1
		if id, ok := m.vocab[string(byteToRune[b])]; ok {
			m.byteLevelIDs[b] = id
		}
	}
	m.cache.init(1 << 16)
	return m, nil
}

// prepareRaw builds the raw-byte view of the vocabulary for byte-level words.
func (m *bpeModel) prepareRaw() {
	if !m.ignoreMerges || m.rawVocab != nil {
		return
	}
	m.rawVocab = make(map[string]int32, len(m.vocab))
	for tok, id := range m.vocab {
		if raw, ok := byteLevelDecode(tok); ok {
			m.rawVocab[raw] = id
		}
	}
}

// prepareChunks decides where long SentencePiece words may be cut: before a run
// of "▁", unless the character before it ends the left side of some merge whose
// right side starts with "▁" (then a merge could cross the cut).
func (m *bpeModel) prepareChunks() {
	if _, ok := m.vocab[spaceMark]; !ok || m.contPrefix != "" || m.eowSuffix != "" {
		return
	}
	block := map[rune]bool{}
	size := 0
	for _, id := range m.vocab {
		size = max(size, int(id)+1)
	}
	idTok := make([]string, size)
	for tok, id := range m.vocab {
		idTok[id] = tok
	}
	for key := range m.merges {
		right := idTok[int32(uint32(key))]
		if !strings.HasPrefix(right, spaceMark) {
			continue
		}
		leftID := int32(key >> 32)
		left := idTok[leftID]
		if strings.HasSuffix(left, spaceMark) {
			continue
		}
		if leftID == m.unkID || (len(left) == 6 && strings.HasPrefix(left, "<0x")) {
			return // byte or unk symbols could cross any cut
		}
		r, _ := utf8.DecodeLastRuneInString(left)
		block[r] = true
	}
	m.chunkSP = true
	m.chunkBlock = block
}

// chunkMin is the word length above which SentencePiece words are cut.
const chunkMin = 64

// encodeWord appends the ids of one pre-tokenized word. raw words hold bytes
// still to be mapped to byte-level characters.
func (m *bpeModel) encodeWord(ids []int32, w string, raw bool) []int32 {
	if w == "" {
		return ids
	}
	if m.ignoreMerges {
		if raw {
			if id, ok := m.rawVocab[w]; ok {
				return append(ids, id)
			}
		} else if id, ok := m.vocab[w]; ok {
			return append(ids, id)
		}
	}
	if !raw && m.chunkSP && len(w) > chunkMin {
		start := 0
		for i := 1; i < len(w); {
			if strings.HasPrefix(w[i:], spaceMark) {
				prev, _ := utf8.DecodeLastRuneInString(w[:i])
				if prev != '▁' && !m.chunkBlock[prev] {
					ids = m.encodeCached(ids, w[start:i], false)
					start = i
				}
				i += len(spaceMark)
				continue
			}
			i++
		}
		return m.encodeCached(ids, w[start:], false)
	}
	return m.encodeCached(ids, w, raw)
}

// maxCachedWord matches the Rust implementation: longer words are not cached.
const maxCachedWord = 256

func (m *bpeModel) encodeCached(ids []int32, w string, raw bool) []int32 {
	if len(w) < maxCachedWord {
		if hit, ok := m.cache.get(w); ok {
			return append(ids, hit...)
		}
	}
	start := len(ids)
	ids = m.mergeWord(ids, w, raw)
	if len(w) < maxCachedWord {
		m.cache.put(w, ids[start:])
	}
	return ids
}

// symbol is one piece of a word being merged, in a doubly linked list over a slice.
type symbol struct {
	id         int32
	prev, next int32
	size       int32 // bytes of the word it covers; 0 once merged away
}

type pendingMerge struct {
	rank, pos, id int32
}

type mergeHeap []pendingMerge

func (h mergeHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h *mergeHeap) push(x pendingMerge) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() pendingMerge {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s.less(r, l) {
			c = r
		}
		if !s.less(c, i) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

var symbolPool = sync.Pool{New: func() any { s := make([]symbol, 0, 64); return &s }}
var heapPool = sync.Pool{New: func() any { h := make(mergeHeap, 0, 64); return &h }}

// mergeWord splits w into initial symbols and merges them.
func (m *bpeModel) mergeWord(ids []int32, w string, raw bool) []int32 {
	sp := symbolPool.Get().(*[]symbol)
	syms := (*sp)[:0]
	add := func(id int32, size int) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1, size: int32(size)})
	}
	unk, unkLen := int32(-1), 0
	flushUnk := func() {
		if unk >= 0 {
			add(unk, unkLen)
			unk, unkLen = -1, 0
		}
	}
	addUnk := func(size int) {
		if m.unkID < 0 {
			return // no unk token: the character is dropped, as in Hugging Face
		}
		if unk >= 0 && m.fuseUnk {
			unkLen += size
			return
		}
		flushUnk()
		unk, unkLen = m.unkID, size
	}
	if raw {
		for i := 0; i < len(w); i++ {
			if id := m.byteLevelIDs[w[i]]; id >= 0 {
				flushUnk()
				add(id, 1)
			} else {
				addUnk(1)
			}
		}
	} else {
		for i := 0; i < len(w); {
			_, n := utf8.DecodeRuneInString(w[i:])
			s := w[i : i+n]
			if i > 0 && m.contPrefix != "" {
				s = m.contPrefix + s
			}
			if i+n == len(w) && m.eowSuffix != "" {
				s += m.eowSuffix
			}
			if id, ok := m.vocab[s]; ok {
				flushUnk()
				add(id, n)
			} else if m.byteFallback && m.hasAllBytes(s) {
				flushUnk()
				for j := 0; j < len(s); j++ {
					add(m.byteFallbackIDs[s[j]], 1)
				}
			} else {
				addUnk(n)
			}
			i += n
		}
	}
	flushUnk()
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}

	hp := heapPool.Get().(*mergeHeap)
	h := (*hp)[:0]
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h = append(h, pendingMerge{rank: mg.rank, pos: int32(i), id: mg.id})
		}
	}
	// Heapify the initial pairs at once.
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.id != top.id {
			continue // stale: one side changed since this pair was queued
		}
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(pendingMerge{rank: mg.rank, pos: cur.prev, id: mg.id})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(pendingMerge{rank: mg.rank, pos: top.pos, id: mg.id})
			}
		}
	}
	for i := range syms {
		if syms[i].size != 0 {
			ids = append(ids, syms[i].id)
		}
	}
	*sp = syms[:0]
	symbolPool.Put(sp)
	*hp = h[:0]
	heapPool.Put(hp)
	return ids
}

func siftDown(h mergeHeap, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func (m *bpeModel) hasAllBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if m.byteFallbackIDs[s[i]] < 0 {
			return false
		}
	}
	return true
}

// wordCache remembers the ids of recent words; it stops growing at its
// capacity, like the Rust cache.
type wordCache struct {
	mu       sync.RWMutex
	m        map[string][]int32
	capacity int
}

func (c *wordCache) init(capacity int) {
	c.m = make(map[string][]int32, 1024)
	c.capacity = capacity
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if len(c.m) < c.capacity {
		c.m[strings.Clone(w)] = append([]int32(nil), ids...)
	}
	c.mu.Unlock()
}
