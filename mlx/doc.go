// Package mlx is impetus's MLX backend: a cgo bridge to the mlx-c C API
// (github.com/ml-explore/mlx-c v0.6.x, MLX 0.31.x) implementing engine/ops on
// MLX arrays — Metal on Apple silicon, CPU or CUDA elsewhere.
//
// The library is not linked: it is opened at run time with dlopen, so one
// impetus binary runs with or without MLX, and building or testing impetus
// needs no MLX headers. The mlx-c declarations the bridge uses are written in
// bridge.h; every function is resolved with dlsym when the library is
// loaded and a missing one is reported by name. The library is searched for
// in this order: $IMPETUS_MLX_LIB (a file or a directory), beside the
// executable, ../lib relative to it, /opt/homebrew/lib, /usr/local/lib, then
// the dynamic loader's standard search (LD_LIBRARY_PATH, ld.so.cache, ...).
//
// MLX's rules, and how they are kept:
//   - Every MLX call runs on one goroutine locked to its OS thread (the
//     executor). Backend ops called from any goroutine only record the step
//     in Go; Logits hands the whole step to the MLX thread in one go, which
//     builds MLX's lazy graph and evaluates it once.
//   - An error handler is installed so an MLX error (mlx-c's default prints
//     and calls exit) becomes a Go error, returned by Logits or the load call.
//   - Every array is freed explicitly: a step's arrays when it is evaluated
//     or released, weights and KV caches when their owner is closed. No
//     finalizers.
package mlx
