package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/ops"
)

func TestBackendRegistry(t *testing.T) {
	calls := 0
	RegisterBackendAuto("zz-test-gpu", func(int) (ops.Backend, error) {
		calls++
		return nil, errors.New("no device")
	}, 100, func() (bool, string) { return false, "no GPU here" })
	defer func() {
		backendsMu.Lock()
		delete(backends, "zz-test-gpu")
		backendsMu.Unlock()
	}()
	// A backend with nothing to say (its library simply absent) is not reported.
	RegisterBackendAuto("zz-test-absent", func(int) (ops.Backend, error) { return nil, errors.New("absent") }, 50,
		func() (bool, string) { return false, "" })
	defer func() {
		backendsMu.Lock()
		delete(backends, "zz-test-absent")
		backendsMu.Unlock()
	}()
	if !slices.Contains(Backends(), "cpu") || Backends()[0] != "auto" {
		t.Fatalf("backends %v", Backends())
	}
	name, skipped := AutoBackend()
	if name != "cpu" || len(skipped) != 1 || !strings.Contains(skipped[0], "no GPU here") {
		t.Fatalf("auto picked %q, skipped %v", name, skipped)
	}
	b, passedOver, err := newBackend("auto", 1)
	if err != nil || b.Name() != "cpu" || calls != 0 {
		t.Fatalf("auto: %v %v calls %d", b, err, calls)
	}
	// The fallback is explained (a one-line notice at load).
	if len(passedOver) != 1 || !strings.Contains(passedOver[0], "zz-test-gpu: no GPU here") {
		t.Fatalf("passed over %v", passedOver)
	}
	b.Close()
	// Asked for by name, the predicate does not apply and the factory's
	// error is reported with the backend's name.
	if _, _, err := newBackend("zz-test-gpu", 1); err == nil || !strings.Contains(err.Error(), "zz-test-gpu: no device") {
		t.Fatalf("explicit: %v", err)
	}
	if _, _, err := newBackend("nope", 1); err == nil || !strings.Contains(err.Error(), "available: auto, cpu") {
		t.Fatalf("unknown: %v", err)
	}
}
