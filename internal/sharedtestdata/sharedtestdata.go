// Package sharedtestdata locates ../shared/testdata — the real tokenizers,
// chat templates and reference models the tests compare against — from any
// package directory of the repository.
package sharedtestdata

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Find returns the shared test data directory: ../shared/testdata beside
// the repository root (the directory holding go.mod).
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s: cannot locate ../shared/testdata", dir)
		}
		dir = parent
	}
	td := filepath.Join(dir, "..", "shared", "testdata")
	if _, err := os.Stat(td); err != nil {
		return "", fmt.Errorf("shared test data not found at %s: %w", td, err)
	}
	return filepath.Clean(td), nil
}

// Dir returns the shared test data directory joined with sub, or skips the
// test with a message saying what is missing.
func Dir(t testing.TB, sub ...string) string {
	t.Helper()
	td, err := Find()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	p := filepath.Join(append([]string{td}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("skipping: shared test data %s is absent: %v", p, err)
	}
	return p
}
