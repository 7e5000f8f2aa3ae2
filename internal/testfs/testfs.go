// Package testfs helps tests put the file system in states a user may meet.
package testfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MakeUnwritable makes dir refuse new files, even for root (with chattr +i,
// which CI's root user needs), undoing it when the test ends. It reports
// whether dir is now really unwritable; callers skip, saying why, when not.
func MakeUnwritable(t testing.TB, dir string) bool {
	t.Helper()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Logf("chattr +i: %v %s", err, out)
			return false
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	} else {
		if err := os.Chmod(dir, 0o555); err != nil {
			return false
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
	}
	probe := filepath.Join(dir, ".testfs-probe")
	if f, err := os.Create(probe); err == nil {
		f.Close()
		os.Remove(probe)
		return false
	}
	return true
}
