package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSearchSinceUntil(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	for _, d := range []int{1, 10, 20} {
		conv := Conversation{Title: "harbor log", CreatedAt: day(d), UpdatedAt: day(d)}
		msgs := []Message{{Role: RoleUser, Content: "the harbor at dawn", CreatedAt: day(d), UpdatedAt: day(d)}}
		if _, err := s.ImportConversation(ctx, conv, msgs); err != nil {
			t.Fatal(err)
		}
	}
	count := func(opts SearchOptions) (msgs, titles int) {
		t.Helper()
		hits, err := s.Search(ctx, "harbor", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.CreatedAt.Before(opts.Since) || (!opts.Until.IsZero() && !h.CreatedAt.Before(opts.Until)) {
				t.Fatalf("hit at %s outside [%s, %s)", h.CreatedAt, opts.Since, opts.Until)
			}
			if h.MessageID == "" {
				titles++
			} else {
				msgs++
			}
		}
		return
	}
	if m, ti := count(SearchOptions{}); m != 3 || ti != 3 {
		t.Fatalf("unfiltered: %d messages, %d titles", m, ti)
	}
	if m, ti := count(SearchOptions{Since: day(5)}); m != 2 || ti != 2 {
		t.Fatalf("since day 5: %d messages, %d titles", m, ti)
	}
	if m, ti := count(SearchOptions{Since: day(5), Until: day(20)}); m != 1 || ti != 1 {
		t.Fatalf("days 5..20: %d messages, %d titles", m, ti)
	}
	if _, err := s.Search(ctx, "harbor", SearchOptions{Since: day(20), Until: day(5)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("until before since: %v", err)
	}
}
