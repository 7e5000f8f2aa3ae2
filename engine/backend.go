package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/impetus-llm/impetus/engine/ops"
)

// BackendFactory creates a compute backend with the given CPU thread count
// (<= 0: one per core). It returns an error when the backend cannot run here
// (e.g. the MLX library is not installed); the error says why.
type BackendFactory func(threads int) (ops.Backend, error)

type backendEntry struct {
	factory BackendFactory
	// priority orders "auto": the highest available backend wins.
	priority int
	// useForAuto, if set, says whether "auto" may pick this backend here
	// (e.g. MLX only on a GPU: its CPU path is far slower than engine/cpu).
	useForAuto func() (bool, string)
}

var (
	backendsMu sync.Mutex
	backends   = map[string]backendEntry{}
)

// RegisterBackend makes a backend selectable by name (Options.Backend,
// --backend). Backends that must not import engine (mlx) are registered by
// package main: engine.RegisterBackend("mlx", mlx.NewBackend, 10). "auto"
// tries registered backends from the highest priority down and uses the first
// whose factory succeeds; the pure-Go "cpu" backend has priority 0 and is
// always available.
func RegisterBackend(name string, f BackendFactory, priority int) {
	RegisterBackendAuto(name, f, priority, nil)
}

// RegisterBackendAuto is RegisterBackend with a predicate deciding whether
// "auto" may choose the backend on this machine; the reason is logged.
// Package main wires MLX with:
//
//	engine.RegisterBackendAuto("mlx", mlx.NewBackend, 10, mlx.AutoReason)
//
// An explicit --backend mlx still uses it whatever the predicate says.
func RegisterBackendAuto(name string, f BackendFactory, priority int, useForAuto func() (bool, string)) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[name] = backendEntry{factory: f, priority: priority, useForAuto: useForAuto}
}

// AutoBackend names the backend "auto" would try first on this machine,
// with the reasons other backends were passed over (for `impetus doctor`).
func AutoBackend() (string, []string) {
	cands, skipped := autoCandidates(snapshotBackends())
	if len(cands) == 0 {
		return "", skipped
	}
	return cands[0].name, skipped
}

type backendCand struct {
	name string
	backendEntry
}

func snapshotBackends() map[string]backendEntry {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	entries := make(map[string]backendEntry, len(backends))
	for n, e := range backends {
		entries[n] = e
	}
	return entries
}

// autoCandidates orders the backends "auto" may use, best first.
func autoCandidates(entries map[string]backendEntry) (cands []backendCand, skipped []string) {
	for n, e := range entries {
		if e.useForAuto != nil {
			// An empty reason means "not present here": nothing to report.
			if ok, why := e.useForAuto(); !ok {
				if why != "" {
					skipped = append(skipped, n+": "+why)
				}
				continue
			}
		}
		cands = append(cands, backendCand{n, e})
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].priority != cands[j].priority {
			return cands[i].priority > cands[j].priority
		}
		return cands[i].name < cands[j].name
	})
	sort.Strings(skipped)
	return cands, skipped
}

// Backends lists the registered backend names, "auto" first.
func Backends() []string {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return append([]string{"auto"}, names...)
}

// newBackend creates the backend called name ("" and "auto" pick one).
// For "auto", passedOver says why better backends were not used (e.g. MLX
// found but running on the CPU only), for a one-line notice.
func newBackend(name string, threads int) (b ops.Backend, passedOver []string, err error) {
	entries := snapshotBackends()
	if name != "" && name != "auto" {
		e, ok := entries[name]
		if !ok {
			known := make([]string, 0, len(entries))
			for n := range entries {
				known = append(known, n)
			}
			sort.Strings(known)
			return nil, nil, fmt.Errorf("backend %q is not available in this build (available: auto, %s)", name, strings.Join(known, ", "))
		}
		if b, err = e.factory(threads); err != nil {
			return nil, nil, fmt.Errorf("backend %s: %w", name, err)
		}
		return b, nil, nil
	}
	cands, skipped := autoCandidates(entries)
	var errs []error
	for _, c := range cands {
		if b, err = c.factory(threads); err == nil {
			return b, skipped, nil
		}
		errs = append(errs, fmt.Errorf("backend %s: %w", c.name, err))
		skipped = append(skipped, c.name+": "+err.Error())
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("no compute backend is registered in this build")
	}
	return nil, nil, errors.Join(errs...)
}
