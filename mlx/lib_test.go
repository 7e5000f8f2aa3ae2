package mlx

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// needLib returns the MLX library or skips the test when it is not
// installed. When IMPETUS_MLX_LIB is set, failing to load it is an error:
// the tester asked for MLX.
func needLib(t testing.TB) *library {
	t.Helper()
	l, err := load()
	if err != nil {
		if os.Getenv(EnvLib) != "" {
			t.Fatalf("%s is set but the library does not load: %v", EnvLib, err)
		}
		t.Skipf("MLX library not available, skipping (set %s to a libmlxc built per mlx/README.md to run): %v", EnvLib, err)
	}
	return l
}

func TestCandidatesOrder(t *testing.T) {
	t.Setenv(EnvLib, "")
	list, explicit := candidates()
	if explicit {
		t.Fatal("explicit without " + EnvLib)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	dir := filepath.Dir(exe)
	want := []string{
		filepath.Join(dir, libName()),
		filepath.Join(dir, "..", "lib", libName()),
		filepath.Join("/opt/homebrew/lib", libName()),
		filepath.Join("/usr/local/lib", libName()),
		libName(),
	}
	if strings.Join(list, "|") != strings.Join(want, "|") {
		t.Fatalf("search order\n got %q\nwant %q", list, want)
	}

	d := t.TempDir()
	t.Setenv(EnvLib, d)
	list, explicit = candidates()
	if !explicit || len(list) != 1 || list[0] != filepath.Join(d, libName()) {
		t.Fatalf("%s=dir: got %q explicit=%v", EnvLib, list, explicit)
	}
	t.Setenv(EnvLib, "/some/where/libmlxc.custom.so")
	list, _ = candidates()
	if len(list) != 1 || list[0] != "/some/where/libmlxc.custom.so" {
		t.Fatalf("%s=file: got %q", EnvLib, list)
	}
}

func TestOpenMissingSaysWhereItLooked(t *testing.T) {
	d := t.TempDir()
	list := []string{filepath.Join(d, "a", libName()), filepath.Join(d, "b", libName()), "libmlxc-not-a-real-name.so"}
	_, err := openFrom(list, false)
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != "missing" {
		t.Fatalf("got %v, want a missing-library LoadError", err)
	}
	msg := err.Error()
	for _, want := range []string{list[0], list[1], EnvLib, "mlx/README.md", "--backend cpu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
}

func TestOpenExplicitBadFile(t *testing.T) {
	d := t.TempDir()
	missing := filepath.Join(d, "nope", libName())
	_, err := openFrom([]string{missing}, true)
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != "missing" || !strings.Contains(err.Error(), EnvLib+"="+missing+": no such file") {
		t.Fatalf("missing explicit file: got %v", err)
	}

	junk := filepath.Join(d, libName())
	if err := os.WriteFile(junk, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = openFrom([]string{junk}, true)
	if !errors.As(err, &le) || le.Kind != "open" || !strings.Contains(err.Error(), junk) {
		t.Fatalf("junk file: got %v", err)
	}
	// Not explicit: a broken file found on the way is reported too.
	_, err = openFrom([]string{junk, filepath.Join(d, "other", libName())}, false)
	if !errors.As(err, &le) || le.Kind != "open" {
		t.Fatalf("junk file in search: got %v", err)
	}
}

func TestOpenLibraryWithoutMLXSymbols(t *testing.T) {
	var other string
	switch runtime.GOOS {
	case "linux":
		other = "libc.so.6"
	case "darwin":
		other = "/usr/lib/libSystem.B.dylib"
	default:
		t.Skip("no known system library on " + runtime.GOOS)
	}
	_, err := openFrom([]string{other}, true)
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != "symbol" || le.Symbol != "mlx_version" {
		t.Fatalf("got %v, want a missing-symbol error naming mlx_version", err)
	}
	if !strings.Contains(err.Error(), "mlx_version") || !strings.Contains(err.Error(), EnvLib) {
		t.Fatalf("message does not name the symbol and the fix: %v", err)
	}
}

func TestVersionCheck(t *testing.T) {
	for v, ok := range map[string]bool{"0.31.2": true, "0.31.0": true, "0.31": true, "0.310.0": false, "0.30.6": false, "0.32.0": false, "1.31.0": false, "": false} {
		if versionSupported(v) != ok {
			t.Errorf("versionSupported(%q) = %v", v, !ok)
		}
	}
	msg := (&LoadError{Kind: "version", Path: "/x/libmlxc.so", Version: "0.30.6"}).Error()
	for _, want := range []string{"0.30.6", "0.31.x", "/x/libmlxc.so", EnvLib} {
		if !strings.Contains(msg, want) {
			t.Errorf("version message lacks %q: %s", want, msg)
		}
	}
}

func TestProbe(t *testing.T) {
	needLib(t)
	info, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	if !versionSupported(info.Version) {
		t.Errorf("version %q", info.Version)
	}
	if info.Path == "" || (info.Device != DeviceCPU && info.Device != DeviceMetal && info.Device != DeviceCUDA) {
		t.Errorf("info %+v", info)
	}
	use, reason := AutoReason()
	if use != info.Device.GPU() || reason == "" {
		t.Errorf("AutoReason() = %v, %q for device %s", use, reason, info.Device)
	}
	t.Logf("MLX %s at %s, device %s %q, memory %d", info.Version, info.Path, info.Device, info.DeviceName, info.MemoryBytes)
}

// An MLX error (here a broadcast mismatch) is a Go error; the process lives
// and MLX keeps working.
func TestMLXErrorIsGoError(t *testing.T) {
	l := needLib(t)
	var err1, err2 error
	var sum []float32
	if err := l.exec.run(func() {
		g := newGraph(l)
		defer g.free()
		a := g.zeros([]int{2, 3}, 10 /* MLX_FLOAT32 */)
		b := g.zeros([]int{4, 5}, 10)
		g.add(a, b)
		err1 = g.err

		g2 := newGraph(l)
		defer g2.free()
		c := g2.add(g2.zeros([]int{2, 3}, 10), g2.scalar(1.5, 10))
		g2.eval(c)
		err2 = g2.err
		if err2 == nil {
			sum = toHost(c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var me *Error
	if !errors.As(err1, &me) || me.Op != "mlx_add" || !strings.Contains(strings.ToLower(me.Msg), "broadcast") {
		t.Fatalf("mismatched add: got %v, want an *Error from mlx_add about broadcasting", err1)
	}
	if err2 != nil {
		t.Fatalf("MLX unusable after an error: %v", err2)
	}
	if len(sum) != 6 || sum[0] != 1.5 || sum[5] != 1.5 {
		t.Fatalf("after the error, 0+1.5 = %v", sum)
	}
}

// A library with every mlx-c symbol but another MLX version is refused
// before any other call, naming the version found. The stand-in library is
// compiled here from the names in bridge.h (a C compiler is needed, as for
// any cgo build).
func TestOpenWrongVersion(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build a stand-in library: %v", cc, err)
	}
	hdr, err := os.ReadFile("bridge.h")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString(`typedef struct { void* ctx; } S;
static char ver[] = "0.30.6";
int mlx_version(S* s) { s->ctx = ver; return 0; }
S mlx_string_new(void) { S s = {0}; return s; }
const char* mlx_string_data(S s) { return (const char*)s.ctx; }
int mlx_string_free(S s) { (void)s; return 0; }
`)
	seen := map[string]bool{"mlx_version": true, "mlx_string_new": true, "mlx_string_data": true, "mlx_string_free": true}
	for _, m := range regexp.MustCompile(`\b(mlx_[a-z0-9_]+), \(`).FindAllStringSubmatch(string(hdr), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			fmt.Fprintf(&src, "void %s(void) {}\n", m[1])
		}
	}
	if len(seen) < 50 {
		t.Fatalf("found only %d mlx-c names in bridge.h", len(seen))
	}
	dir := t.TempDir()
	c := filepath.Join(dir, "fake.c")
	lib := filepath.Join(dir, libName())
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, c).CombinedOutput(); err != nil {
		t.Skipf("cannot build the stand-in library: %v\n%s", err, out)
	}
	_, err = openFrom([]string{lib}, true)
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != "version" || le.Version != "0.30.6" || le.Path != lib {
		t.Fatalf("got %v, want a version error for MLX 0.30.6 at %s", err, lib)
	}
	if !strings.Contains(err.Error(), "needs MLX 0.31.x") {
		t.Fatalf("message: %v", err)
	}
}
