package engine

import "strings"

// stopFilter sits between the detokenizer and the caller. It withholds text
// that could be the beginning of a stop string until the next tokens decide,
// so no part of a stop string is ever emitted.
type stopFilter struct {
	stops   []string
	pending string // text not yet emitted: a possible stop-string prefix
}

func newStopFilter(stops []string) *stopFilter {
	f := &stopFilter{}
	for _, s := range stops {
		if s != "" {
			f.stops = append(f.stops, s)
		}
	}
	return f
}

// push adds decoded text. It returns the text that is now safe to emit and,
// when a stop string occurred, which one (the text from it on is dropped).
func (f *stopFilter) push(text string) (emit, stop string) {
	if len(f.stops) == 0 {
		return text, ""
	}
	f.pending += text
	// The earliest occurrence of any stop string wins.
	at, which := -1, ""
	for _, s := range f.stops {
		if i := strings.Index(f.pending, s); i >= 0 && (at < 0 || i < at || (i == at && len(s) > len(which))) {
			at, which = i, s
		}
	}
	if at >= 0 {
		emit = f.pending[:at]
		f.pending = ""
		return emit, which
	}
	// Hold back the longest suffix that is a proper prefix of a stop string.
	hold := 0
	for _, s := range f.stops {
		for n := min(len(s)-1, len(f.pending)); n > hold; n-- {
			if strings.HasSuffix(f.pending, s[:n]) {
				hold = n
				break
			}
		}
	}
	emit = f.pending[:len(f.pending)-hold]
	f.pending = f.pending[len(f.pending)-hold:]
	return emit, ""
}

// flush returns the withheld text at the end of a generation that did not
// stop on a stop string.
func (f *stopFilter) flush() string {
	s := f.pending
	f.pending = ""
	return s
}
