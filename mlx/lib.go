package mlx

// #include "bridge.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// EnvLib names the environment variable that points impetus at libmlxc: a
// library file, or a directory holding one.
const EnvLib = "IMPETUS_MLX_LIB"

// SupportedMLX is the MLX release series this bridge's declarations match
// (mlx-c v0.6.x is built against MLX 0.31.x).
const SupportedMLX = "0.31"

// DeviceKind is where MLX computes by default.
type DeviceKind string

const (
	DeviceMetal DeviceKind = "Metal GPU"
	DeviceCUDA  DeviceKind = "CUDA GPU"
	DeviceCPU   DeviceKind = "CPU"
)

// GPU reports whether the device is a GPU (Metal or CUDA).
func (d DeviceKind) GPU() bool { return d == DeviceMetal || d == DeviceCUDA }

// Info describes the MLX library in use, for `impetus doctor` and the
// choice of backend.
type Info struct {
	Path    string     // the libmlxc file loaded
	Version string     // MLX version reported by the library, e.g. "0.31.2"
	Device  DeviceKind // default device
	// DeviceName and MemoryBytes come from MLX's device info when the
	// library reports them (empty/zero otherwise).
	DeviceName  string
	MemoryBytes uint64
}

// LoadError says why the MLX library could not be used and what to do.
type LoadError struct {
	// Kind is "missing" (no library found), "open" (dlopen failed),
	// "symbol" (a required mlx-c function is absent), "version" (the MLX
	// version does not match) or "init" (MLX failed to start).
	Kind string
	// Path is the library file concerned ("" for "missing").
	Path string
	// Symbol is the missing function for Kind "symbol".
	Symbol string
	// Version is the MLX version found for Kind "version".
	Version string
	// Searched lists the places looked at, in order, for Kind "missing".
	Searched []string
	// Detail is the underlying message (dlerror, MLX's error).
	Detail string
	// Explicit is set when the place came from EnvLib.
	Explicit bool
}

const fixHint = "build mlx-c v0.6.x against MLX " + SupportedMLX + ".x (see mlx/README.md) and point " + EnvLib + " at libmlxc, or use --backend cpu"

func (e *LoadError) Error() string {
	switch e.Kind {
	case "missing":
		if e.Explicit {
			return fmt.Sprintf("mlx: %s=%s: no such file; %s", EnvLib, e.Searched[0], fixHint)
		}
		return fmt.Sprintf("mlx: %s not found (looked in: %s); %s", libName(), strings.Join(e.Searched, ", "), fixHint)
	case "open":
		return fmt.Sprintf("mlx: cannot load %s: %s; check that libmlx and its dependencies (BLAS/LAPACK) are beside it or on the library path, or %s", e.Path, e.Detail, fixHint)
	case "symbol":
		return fmt.Sprintf("mlx: %s lacks the mlx-c function %s (an older or different mlx-c); %s", e.Path, e.Symbol, fixHint)
	case "version":
		return fmt.Sprintf("mlx: %s is built against MLX %s but impetus needs MLX %s.x; %s", e.Path, e.Version, SupportedMLX, fixHint)
	default:
		return fmt.Sprintf("mlx: %s: %s", e.Path, e.Detail)
	}
}

// libName is the platform's file name of the mlx-c shared library.
func libName() string {
	if runtime.GOOS == "darwin" {
		return "libmlxc.dylib"
	}
	return "libmlxc.so"
}

// candidates lists where to look for libmlxc, in order. When EnvLib is set
// only that place is tried: an explicit choice must not silently fall back.
func candidates() (list []string, explicit bool) {
	name := libName()
	if p := os.Getenv(EnvLib); p != "" {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, name)
		}
		return []string{p}, true
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		list = append(list, filepath.Join(dir, name), filepath.Join(dir, "..", "lib", name))
	}
	list = append(list, filepath.Join("/opt/homebrew/lib", name), filepath.Join("/usr/local/lib", name))
	// Last: the bare name, resolved by the dynamic loader's own search
	// (LD_LIBRARY_PATH / DYLD_LIBRARY_PATH, ld.so.cache, /usr/lib).
	list = append(list, name)
	return list, false
}

// library is the process-wide MLX state: loaded once, used from one thread.
type library struct {
	info      Info
	exec      *executor
	stream    C.mlx_stream // default stream of the default device
	cpuStream C.mlx_stream // for loading files

	freeMu  sync.Mutex
	pending []C.mlx_array // released from other goroutines, freed on the MLX thread
}

var (
	libOnce sync.Once
	libVal  *library
	libErr  error
)

// load finds, opens and initializes libmlxc once per process.
func load() (*library, error) {
	libOnce.Do(func() { libVal, libErr = open() })
	return libVal, libErr
}

func open() (*library, error) {
	list, explicit := candidates()
	return openFrom(list, explicit)
}

// openFrom tries list in order. A candidate with a directory part is tried
// when the file exists (always, if explicit); a bare name goes to the
// dynamic loader's search, where failing means "not there".
func openFrom(list []string, explicit bool) (*library, error) {
	var handle unsafe.Pointer
	var path string
	var openErr *LoadError
	for _, p := range list {
		bare := !strings.ContainsRune(p, filepath.Separator)
		if !bare {
			if _, err := os.Stat(p); err != nil {
				if explicit {
					return nil, &LoadError{Kind: "missing", Searched: []string{p}, Explicit: true}
				}
				continue
			}
		}
		h, detail := dlopen(p)
		if h == nil {
			if (bare && !explicit) || openErr != nil {
				continue
			}
			openErr = &LoadError{Kind: "open", Path: p, Detail: detail}
			continue
		}
		handle, path = h, p
		break
	}
	if handle == nil {
		if openErr != nil {
			return nil, openErr
		}
		return nil, &LoadError{Kind: "missing", Searched: list}
	}
	if abs, err := filepath.Abs(path); err == nil && strings.ContainsRune(path, filepath.Separator) {
		path = abs
	}
	if sym := resolve(handle); sym != "" {
		return nil, &LoadError{Kind: "symbol", Path: path, Symbol: sym}
	}
	// The declarations in bridge.h match one mlx-c series: a library of
	// another MLX version may take different arguments, so it is refused
	// before any other call.
	version := pendingVersion()
	if !versionSupported(version) {
		return nil, &LoadError{Kind: "version", Path: path, Version: version}
	}
	activate()
	l := &library{exec: newExecutor()}
	l.info.Path, l.info.Version = path, version
	var initErr error
	if err := l.exec.run(func() { initErr = l.init() }); err != nil {
		initErr = err
	}
	if initErr != nil {
		var le *LoadError
		if errors.As(initErr, &le) {
			le.Path = path
			return nil, le
		}
		return nil, &LoadError{Kind: "init", Path: path, Detail: initErr.Error()}
	}
	return l, nil
}

// logf reports a non-fatal problem on stderr (stdout belongs to the
// protocol or the generated text).
func (l *library) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mlx: "+format+"\n", args...)
}

// Probe loads the MLX library if it is not loaded yet and describes it. The
// error is a *LoadError saying what is missing and how to fix it.
func Probe() (Info, error) {
	l, err := load()
	if err != nil {
		return Info{}, err
	}
	return l.info, nil
}

// AutoReason says whether `--backend auto` should pick MLX: only when the
// library loads and its device is a GPU. On a CPU-only MLX build the pure-Go
// engine is faster, and reason says so.
func AutoReason() (use bool, reason string) {
	info, err := Probe()
	if err != nil {
		// No library anywhere (and none asked for) is the normal state off
		// Apple silicon: nothing to tell. Anything else is worth a notice.
		var le *LoadError
		if errors.As(err, &le) && le.Kind == "missing" && !le.Explicit {
			return false, ""
		}
		return false, err.Error()
	}
	if !info.Device.GPU() {
		return false, fmt.Sprintf("MLX %s at %s runs on the CPU only; the pure-Go backend is faster there (use --backend mlx to force it)", info.Version, info.Path)
	}
	return true, fmt.Sprintf("MLX %s on %s", info.Version, info.Device)
}
