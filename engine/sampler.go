package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// defaultPenaltyWindow is how many recent tokens the penalties look at when
// Sampling.PenaltyWindow is 0 (llama.cpp's penalty_last_n default).
const defaultPenaltyWindow = 64

// validateSampling checks ranges so a bad value is a request error, not
// silent nonsense.
func validateSampling(s Sampling) error {
	bad := func(field, msg string) error { return &RequestError{Field: field, Message: msg} }
	switch {
	case math.IsNaN(s.Temperature) || s.Temperature < 0:
		return bad("temperature", fmt.Sprintf("%g: must be >= 0 (0 is greedy)", s.Temperature))
	case s.TopK < 0:
		return bad("top_k", fmt.Sprintf("%d: must be >= 0 (0 disables)", s.TopK))
	case math.IsNaN(s.TopP) || s.TopP < 0 || s.TopP > 1:
		return bad("top_p", fmt.Sprintf("%g: must be in [0, 1] (0 or 1 disables)", s.TopP))
	case math.IsNaN(s.MinP) || s.MinP < 0 || s.MinP > 1:
		return bad("min_p", fmt.Sprintf("%g: must be in [0, 1] (0 disables)", s.MinP))
	case math.IsNaN(s.RepetitionPenalty) || s.RepetitionPenalty < 0:
		return bad("repetition_penalty", fmt.Sprintf("%g: must be > 0 (1 or 0 disables)", s.RepetitionPenalty))
	case math.IsNaN(s.PresencePenalty) || math.IsInf(s.PresencePenalty, 0):
		return bad("presence_penalty", "must be a finite number")
	case math.IsNaN(s.FrequencyPenalty) || math.IsInf(s.FrequencyPenalty, 0):
		return bad("frequency_penalty", "must be a finite number")
	}
	for id, b := range s.LogitBias {
		if math.IsNaN(float64(b)) {
			return bad("logit_bias", fmt.Sprintf("token %d: bias is NaN", id))
		}
	}
	return nil
}

// sampler turns logits into the next token. It is used by one generation at
// a time; its scratch buffers are reused across steps.
type sampler struct {
	p      Sampling
	rng    *rand.Rand
	window int
	// recent holds the last tokens (prompt then completion) for penalties.
	recent []int32
	counts map[int32]int

	idx   []int32   // candidate token ids
	probs []float32 // probabilities indexed by token id
}

// newSampler prepares sampling for one generation. history is the prompt,
// so penalties also cover the prompt's tokens within the window.
func newSampler(p Sampling, seed uint64, history []int32) *sampler {
	s := &sampler{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), window: p.PenaltyWindow}
	if s.window == 0 {
		s.window = defaultPenaltyWindow
	}
	if s.penalties() {
		s.counts = map[int32]int{}
		if s.window > 0 && len(history) > s.window {
			history = history[len(history)-s.window:]
		}
		for _, t := range history {
			s.accept(t)
		}
	}
	return s
}

func (s *sampler) penalties() bool {
	return (s.p.RepetitionPenalty != 0 && s.p.RepetitionPenalty != 1) || s.p.PresencePenalty != 0 || s.p.FrequencyPenalty != 0
}

// accept records a token that is now part of the context.
func (s *sampler) accept(t int32) {
	if s.counts == nil {
		return
	}
	s.recent = append(s.recent, t)
	s.counts[t]++
	if s.window > 0 && len(s.recent) > s.window {
		old := s.recent[0]
		s.recent = s.recent[1:]
		if s.counts[old]--; s.counts[old] <= 0 {
			delete(s.counts, old)
		}
	}
}

// sample picks the next token. logits is modified in place.
func (s *sampler) sample(logits []float32) (int32, error) {
	if len(logits) == 0 {
		return 0, fmt.Errorf("%w: empty logits", ErrBadLogits)
	}
	// Reject NaN/+Inf before anything else: a broken model must produce an
	// error, never tokens that look like an answer.
	finite := 0
	for i, v := range logits {
		if v != v || math.IsInf(float64(v), 1) {
			return 0, fmt.Errorf("%w (token %d is %v); the weights may contain NaN/Inf or overflow in this dtype", ErrBadLogits, i, v)
		}
		if !math.IsInf(float64(v), -1) {
			finite++
		}
	}
	if finite == 0 {
		return 0, fmt.Errorf("%w: every logit is -Inf", ErrBadLogits)
	}
	for id, b := range s.p.LogitBias {
		if id >= 0 && int(id) < len(logits) {
			logits[id] += b
		}
	}
	if s.counts != nil {
		rp := float32(s.p.RepetitionPenalty)
		for id, n := range s.counts {
			if id < 0 || int(id) >= len(logits) {
				continue
			}
			v := logits[id]
			if rp != 0 && rp != 1 {
				if v > 0 {
					v /= rp
				} else {
					v *= rp
				}
			}
			v -= float32(s.p.PresencePenalty) + float32(s.p.FrequencyPenalty)*float32(n)
			logits[id] = v
		}
	}
	if s.p.Temperature <= 0 {
		return argmax(logits), nil
	}
	return s.sampleRandom(logits), nil
}

// argmax returns the first index of the largest value.
func argmax(x []float32) int32 {
	best, bi := float32(math.Inf(-1)), 0
	for i, v := range x {
		if v > best {
			best, bi = v, i
		}
	}
	return int32(bi)
}

func (s *sampler) sampleRandom(logits []float32) int32 {
	n := len(logits)
	if cap(s.probs) < n {
		s.probs = make([]float32, n)
		s.idx = make([]int32, n)
	}
	probs := s.probs[:n]
	T := float32(s.p.Temperature)
	maxL := logits[argmax(logits)]
	// Candidates, filtered in logit space so exp runs only on tokens that
	// can matter: a token 20 nats (after temperature) below the top has
	// probability < 2e-9 of the top one's; min-p is a logit threshold too.
	cut := maxL - 20*T
	if s.p.MinP > 0 {
		cut = max(cut, maxL+T*float32(math.Log(s.p.MinP)))
	}
	idx := s.idx[:0]
	for i, v := range logits {
		if v >= cut {
			idx = append(idx, int32(i))
		}
	}
	if k := s.p.TopK; k > 0 && k < len(idx) {
		selectTop(idx, logits, k)
		idx = idx[:k]
	}
	invT := 1 / float64(T)
	var total float64
	for _, i := range idx {
		p := float32(math.Exp(float64(logits[i]-maxL) * invT))
		probs[i] = p
		total += float64(p)
	}
	if topP := s.p.TopP; topP > 0 && topP < 1 {
		// Sort only as many of the most likely tokens as needed: top-p sets
		// are usually tens of tokens out of a vocabulary of 10⁵.
		m := min(len(idx), 64)
		for {
			selectTop(idx, probs, m)
			sortDesc(idx[:m], probs)
			var cum float64
			cut := -1
			for j, i := range idx[:m] {
				cum += float64(probs[i])
				if cum >= topP*total {
					cut = j + 1
					break
				}
			}
			if cut > 0 {
				idx = idx[:cut]
				break
			}
			if m == len(idx) {
				break
			}
			m = min(len(idx), m*8)
		}
		total = 0
		for _, i := range idx {
			total += float64(probs[i])
		}
	}
	r := s.rng.Float64() * total
	var cum float64
	for _, i := range idx {
		cum += float64(probs[i])
		if r < cum {
			return i
		}
	}
	return idx[len(idx)-1]
}

// sortDesc orders ids by descending probability, ties by id, so the order
// (and therefore a seeded sample) is deterministic.
func sortDesc(ids []int32, probs []float32) {
	slices.SortFunc(ids, func(a, b int32) int {
		pa, pb := probs[a], probs[b]
		switch {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		return int(a - b)
	})
}

// selectTop partially orders ids so that ids[:m] are the m most probable
// (in no particular order): quickselect with a deterministic pivot.
func selectTop(ids []int32, probs []float32, m int) {
	if m <= 0 || m >= len(ids) {
		return
	}
	// greater reports whether a ranks before b.
	greater := func(a, b int32) bool {
		if probs[a] != probs[b] {
			return probs[a] > probs[b]
		}
		return a < b
	}
	if m <= 512 {
		// ids[:m] as a min-heap of the best seen so far: one compare per
		// element for most of a large vocabulary.
		less := func(i, j int) bool { return greater(ids[j], ids[i]) }
		down := func(i int) {
			for {
				c := 2*i + 1
				if c >= m {
					return
				}
				if c+1 < m && less(c+1, c) {
					c++
				}
				if !less(c, i) {
					return
				}
				ids[i], ids[c] = ids[c], ids[i]
				i = c
			}
		}
		for i := m/2 - 1; i >= 0; i-- {
			down(i)
		}
		for j := m; j < len(ids); j++ {
			if greater(ids[j], ids[0]) {
				ids[0], ids[j] = ids[j], ids[0]
				down(0)
			}
		}
		return
	}
	lo, hi := 0, len(ids)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three as pivot
		a, b, c := ids[lo], ids[mid], ids[hi]
		pivot := b
		if greater(a, b) != greater(a, c) {
			pivot = a
		} else if greater(b, a) != greater(b, c) {
			pivot = b
		} else {
			pivot = c
		}
		i, j := lo, hi
		for i <= j {
			for greater(ids[i], pivot) {
				i++
			}
			for greater(pivot, ids[j]) {
				j--
			}
			if i <= j {
				ids[i], ids[j] = ids[j], ids[i]
				i++
				j--
			}
		}
		switch {
		case m-1 <= j:
			hi = j
		case m-1 >= i:
			lo = i
		default:
			return
		}
	}
}
