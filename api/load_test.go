package api

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2ELoad: 32 concurrent streaming clients for 60 s (IMPETUS_LOAD_SECONDS
// changes it) on loopback. No request may fail, goroutines must return to
// where they started, and every client must be served (fairness: the slowest
// client's count is compared with the fastest's). Run by `make e2e`.
func TestE2ELoad(t *testing.T) {
	if os.Getenv("IMPETUS_E2E") == "" {
		t.Skip("load test: set IMPETUS_E2E=1 (make e2e)")
	}
	seconds := 60
	if s, err := strconv.Atoi(os.Getenv("IMPETUS_LOAD_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	hs, _ := newTestServer(t, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	goroutinesBefore := runtime.NumGoroutine()

	const clients = 32
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		ttfts   []time.Duration
		tokens  int
		errs    []string
		perUser = make([]int, clients)
	)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for ctx.Err() == nil {
				body := fmt.Sprintf(`{"messages":[{"role":"user","content":"client %d says hello"}],"max_tokens":32,"stream":true,"seed":%d}`, c, c)
				req, _ := http.NewRequest("POST", hs.URL+"/v1/chat/completions", strings.NewReader(body))
				sent := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					return
				}
				var first time.Duration
				n := 0
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					line := sc.Text()
					if strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
						if first == 0 {
							first = time.Since(sent)
						}
						n++
					}
				}
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != 200 {
					errs = append(errs, resp.Status)
				} else {
					ttfts = append(ttfts, first)
					tokens += n
					perUser[c]++
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d failed requests, first: %s", len(errs), errs[0])
	}
	slices.Sort(ttfts)
	p := func(q float64) time.Duration { return ttfts[int(q*float64(len(ttfts)-1))] }
	minU, maxU := slices.Min(perUser), slices.Max(perUser)
	t.Logf("%d clients, %v: %d requests, TTFT p50 %v p99 %v, aggregate %.1f content chunks/s, requests per client %d..%d",
		clients, elapsed.Round(time.Second), len(ttfts), p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond),
		float64(tokens)/elapsed.Seconds(), minU, maxU)
	if minU == 0 || float64(maxU) > 2*float64(minU)+2 {
		t.Fatalf("unfair service: requests per client range %d..%d", minU, maxU)
	}
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutinesBefore+2 {
		t.Fatalf("goroutines %d after the load, %d before: a leak", g, goroutinesBefore)
	}
}
