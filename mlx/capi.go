package mlx

/*
#cgo LDFLAGS: -ldl
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// dlopen opens a shared library; on failure it returns dlerror's text.
func dlopen(path string) (unsafe.Pointer, string) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var cerr *C.char
	h := C.imp_dlopen(cp, &cerr)
	if h == nil {
		msg := "unknown error"
		if cerr != nil {
			msg = C.GoString(cerr)
		}
		return nil, msg
	}
	return h, ""
}

// resolve looks up every mlx-c function the bridge uses; it returns the name
// of the first required one missing, or "". The table stays pending until
// activate.
func resolve(h unsafe.Pointer) string {
	if name := C.imp_resolve(h); name != nil {
		return C.GoString(name)
	}
	return ""
}

// pendingVersion asks the resolved (not yet active) library its MLX
// version. mlx_version cannot fail in practice; if it does, the version is
// reported as unknown.
func pendingVersion() string {
	var buf [128]C.char
	if C.imp_pending_version(&buf[0], C.size_t(len(buf))) != 0 {
		return "(unknown)"
	}
	return C.GoString(&buf[0])
}

// activate makes the resolved library the one in use.
func activate() { C.imp_activate() }

// Error is an error reported by MLX (through the error handler) for one call.
type Error struct {
	Op  string // the mlx-c function, e.g. "mlx_add"
	Msg string // MLX's message
}

func (e *Error) Error() string { return fmt.Sprintf("mlx: %s: %s", e.Op, e.Msg) }

// takeError returns and clears MLX's pending error message.
func takeError() string {
	var buf [2048]C.char
	if C.imp_take_error(&buf[0], C.size_t(len(buf))) == 0 {
		return "failed (no message)"
	}
	return C.GoString(&buf[0])
}

// check turns an mlx-c status into an error.
func check(rc C.int, op string) error {
	if rc == 0 {
		return nil
	}
	return &Error{Op: op, Msg: takeError()}
}

// executor runs every MLX call on one goroutine locked to its OS thread, as
// MLX requires (its streams and Metal command queues belong to a thread).
type executor struct {
	work chan func()
}

func newExecutor() *executor {
	e := &executor{work: make(chan func())}
	go e.loop()
	return e
}

func (e *executor) loop() {
	runtime.LockOSThread() // never unlocked: this goroutine is the MLX thread
	for f := range e.work {
		f()
	}
}

// run executes f on the MLX thread and waits for it. A panic in f becomes an
// error instead of killing the MLX thread.
func (e *executor) run(f func()) (err error) {
	done := make(chan error, 1)
	e.work <- func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("mlx: internal error: %v", r)
				return
			}
			done <- nil
		}()
		f()
	}
	return <-done
}

// init runs on the MLX thread: installs the error handler and finds the
// default device and streams.
func (l *library) init() error {
	C.imp_install_error_handler()

	dev := C.mlx_device_new()
	defer C.mlx_device_free(dev)
	if err := check(C.mlx_get_default_device(&dev), "mlx_get_default_device"); err != nil {
		return err
	}
	var typ C.mlx_device_type
	if err := check(C.mlx_device_get_type(&typ, dev), "mlx_device_get_type"); err != nil {
		return err
	}
	l.info.Device = DeviceCPU
	if typ == C.MLX_GPU {
		var metal C.bool
		if check(C.mlx_metal_is_available(&metal), "mlx_metal_is_available") == nil && bool(metal) {
			l.info.Device = DeviceMetal
		} else {
			l.info.Device = DeviceCUDA
			if C.has_mlx_cuda_is_available() != 0 {
				var cuda C.bool
				if check(C.mlx_cuda_is_available(&cuda), "mlx_cuda_is_available") == nil && !bool(cuda) {
					return errors.New("MLX's default device is a GPU but neither Metal nor CUDA is available")
				}
			}
		}
	}
	l.deviceInfo(dev)

	l.stream = C.mlx_stream_new()
	if err := check(C.mlx_get_default_stream(&l.stream, dev), "mlx_get_default_stream"); err != nil {
		return err
	}
	// Loading from files runs on the CPU stream (MLX's Load has no GPU
	// kernel); the arrays move to the GPU when first used there.
	l.cpuStream = C.mlx_default_cpu_stream_new()
	if l.cpuStream.ctx == nil {
		return &Error{Op: "mlx_default_cpu_stream_new", Msg: takeError()}
	}
	return nil
}

// deviceInfo fills DeviceName and MemoryBytes when the library offers them.
func (l *library) deviceInfo(dev C.mlx_device) {
	if C.has_mlx_device_info_new() == 0 || C.has_mlx_device_info_get() == 0 ||
		C.has_mlx_device_info_has_key() == 0 || C.has_mlx_device_info_free() == 0 {
		return
	}
	info := C.mlx_device_info_new()
	defer C.mlx_device_info_free(info)
	if check(C.mlx_device_info_get(&info, dev), "mlx_device_info_get") != nil {
		return
	}
	has := func(key string) bool {
		ck := C.CString(key)
		defer C.free(unsafe.Pointer(ck))
		var ok C.bool
		return check(C.mlx_device_info_has_key(&ok, info, ck), "mlx_device_info_has_key") == nil && bool(ok)
	}
	str := func(key string) string {
		if C.has_mlx_device_info_get_string() == 0 || !has(key) {
			return ""
		}
		ck := C.CString(key)
		defer C.free(unsafe.Pointer(ck))
		var isStr C.bool
		if check(C.mlx_device_info_is_string(&isStr, info, ck), "mlx_device_info_is_string") != nil || !bool(isStr) {
			return ""
		}
		var v *C.char
		if check(C.mlx_device_info_get_string(&v, info, ck), "mlx_device_info_get_string") != nil || v == nil {
			return ""
		}
		return C.GoString(v)
	}
	size := func(key string) uint64 {
		if C.has_mlx_device_info_get_size() == 0 || !has(key) {
			return 0
		}
		ck := C.CString(key)
		defer C.free(unsafe.Pointer(ck))
		var v C.size_t
		if check(C.mlx_device_info_get_size(&v, info, ck), "mlx_device_info_get_size") != nil {
			return 0
		}
		return uint64(v)
	}
	l.info.DeviceName = str("device_name")
	if l.info.DeviceName == "" {
		l.info.DeviceName = str("architecture")
	}
	l.info.MemoryBytes = size("memory_size")
}

// versionSupported accepts MLX SupportedMLX.x.
func versionSupported(v string) bool {
	return v == SupportedMLX || strings.HasPrefix(v, SupportedMLX+".")
}

// Memory reports MLX's allocator counters in bytes.
type Memory struct {
	Active, Peak, Cache uint64
}

// MemoryStats returns MLX's memory counters (after freeing arrays released
// since the last MLX call).
func MemoryStats() (Memory, error) {
	l, err := load()
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	var cerr error
	if err := l.exec.run(func() {
		l.flushFrees()
		var a, p, c C.size_t
		if cerr = check(C.mlx_get_active_memory(&a), "mlx_get_active_memory"); cerr != nil {
			return
		}
		if cerr = check(C.mlx_get_peak_memory(&p), "mlx_get_peak_memory"); cerr != nil {
			return
		}
		if cerr = check(C.mlx_get_cache_memory(&c), "mlx_get_cache_memory"); cerr != nil {
			return
		}
		m = Memory{Active: uint64(a), Peak: uint64(p), Cache: uint64(c)}
	}); err != nil {
		return m, err
	}
	return m, cerr
}
