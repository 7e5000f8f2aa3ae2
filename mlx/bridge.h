// bridge.h declares the part of the mlx-c API impetus uses and the
// same-named wrappers (bridge.c) that call through pointers resolved by dlsym.
#ifndef IMPETUS_MLX_BRIDGE_H
#define IMPETUS_MLX_BRIDGE_H

// The mlx-c API (github.com/ml-explore/mlx-c v0.6.x, for MLX 0.31.x), declared
// here rather than included: impetus builds without MLX installed and loads
// libmlxc at run time with dlopen. Only what the bridge calls is declared.
// Every handle type is a struct holding one pointer; they are passed by value.

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { void* ctx; } mlx_array;
typedef struct { void* ctx; } mlx_stream;
typedef struct { void* ctx; } mlx_device;
typedef struct { void* ctx; } mlx_device_info;
typedef struct { void* ctx; } mlx_string;
typedef struct { void* ctx; } mlx_vector_array;
typedef struct { void* ctx; } mlx_map_string_to_array;
typedef struct { void* ctx; } mlx_map_string_to_string;
typedef struct { int value; bool has_value; } mlx_optional_int;
typedef struct { float value; bool has_value; } mlx_optional_float;

// mlx_dtype and mlx_device_type are C enums (int-sized).
typedef int mlx_dtype;
enum {
	MLX_BOOL, MLX_UINT8, MLX_UINT16, MLX_UINT32, MLX_UINT64, MLX_INT8, MLX_INT16,
	MLX_INT32, MLX_INT64, MLX_FLOAT16, MLX_FLOAT32, MLX_FLOAT64, MLX_BFLOAT16,
	MLX_COMPLEX64
};
typedef struct { mlx_dtype value; bool has_value; } mlx_optional_dtype;
typedef int mlx_device_type;
enum { MLX_CPU, MLX_GPU };

typedef void (*mlx_error_handler_func)(const char* msg, void* data);

// MLX_FUNCS lists every required mlx-c function: X(return type, name,
// parameter list, argument list). It expands into a table of pointers filled
// by dlsym and into same-named wrappers the Go code calls.
#define MLX_FUNCS(X) \
	X(int, mlx_version, (mlx_string* s), (s)) \
	X(mlx_string, mlx_string_new, (void), ()) \
	X(const char*, mlx_string_data, (mlx_string s), (s)) \
	X(int, mlx_string_free, (mlx_string s), (s)) \
	X(mlx_array, mlx_array_new_data, (const void* data, const int* shape, int dim, mlx_dtype dtype), (data, shape, dim, dtype)) \
	X(mlx_array, mlx_array_new_float, (float v), (v)) \
	X(int, mlx_array_free, (mlx_array a), (a)) \
	X(size_t, mlx_array_ndim, (const mlx_array a), (a)) \
	X(const int*, mlx_array_shape, (const mlx_array a), (a)) \
	X(size_t, mlx_array_size, (const mlx_array a), (a)) \
	X(mlx_dtype, mlx_array_dtype, (const mlx_array a), (a)) \
	X(const float*, mlx_array_data_float32, (const mlx_array a), (a)) \
	X(mlx_device, mlx_device_new, (void), ()) \
	X(int, mlx_device_free, (mlx_device d), (d)) \
	X(int, mlx_get_default_device, (mlx_device* d), (d)) \
	X(int, mlx_device_get_type, (mlx_device_type* t, mlx_device d), (t, d)) \
	X(mlx_stream, mlx_stream_new, (void), ()) \
	X(mlx_stream, mlx_default_cpu_stream_new, (void), ()) \
	X(int, mlx_get_default_stream, (mlx_stream* s, mlx_device d), (s, d)) \
	X(int, mlx_metal_is_available, (bool* res), (res)) \
	X(int, mlx_get_active_memory, (size_t* res), (res)) \
	X(int, mlx_get_peak_memory, (size_t* res), (res)) \
	X(int, mlx_get_cache_memory, (size_t* res), (res)) \
	X(int, mlx_clear_cache, (void), ()) \
	X(mlx_vector_array, mlx_vector_array_new, (void), ()) \
	X(int, mlx_vector_array_free, (mlx_vector_array v), (v)) \
	X(int, mlx_vector_array_append_value, (mlx_vector_array v, const mlx_array a), (v, a)) \
	X(mlx_map_string_to_array, mlx_map_string_to_array_new, (void), ()) \
	X(int, mlx_map_string_to_array_free, (mlx_map_string_to_array m), (m)) \
	X(int, mlx_map_string_to_array_get, (mlx_array* v, const mlx_map_string_to_array m, const char* key), (v, m, key)) \
	X(mlx_map_string_to_string, mlx_map_string_to_string_new, (void), ()) \
	X(int, mlx_map_string_to_string_free, (mlx_map_string_to_string m), (m)) \
	X(int, mlx_load_safetensors, (mlx_map_string_to_array* r0, mlx_map_string_to_string* r1, const char* file, const mlx_stream s), (r0, r1, file, s)) \
	X(int, mlx_eval, (const mlx_vector_array v), (v)) \
	X(int, mlx_async_eval, (const mlx_vector_array v), (v)) \
	X(int, mlx_array_item_uint32, (uint32_t* r, const mlx_array a), (r, a)) \
	X(int, mlx_array_item_float32, (float* r, const mlx_array a), (r, a)) \
	X(int, mlx_argmax_axis, (mlx_array* r, const mlx_array a, int axis, bool keepdims, const mlx_stream s), (r, a, axis, keepdims, s)) \
	X(int, mlx_sum, (mlx_array* r, const mlx_array a, bool keepdims, const mlx_stream s), (r, a, keepdims, s)) \
	X(int, mlx_add, (mlx_array* r, const mlx_array a, const mlx_array b, const mlx_stream s), (r, a, b, s)) \
	X(int, mlx_multiply, (mlx_array* r, const mlx_array a, const mlx_array b, const mlx_stream s), (r, a, b, s)) \
	X(int, mlx_matmul, (mlx_array* r, const mlx_array a, const mlx_array b, const mlx_stream s), (r, a, b, s)) \
	X(int, mlx_sigmoid, (mlx_array* r, const mlx_array a, const mlx_stream s), (r, a, s)) \
	X(int, mlx_tanh, (mlx_array* r, const mlx_array a, const mlx_stream s), (r, a, s)) \
	X(int, mlx_softmax_axis, (mlx_array* r, const mlx_array a, int axis, bool precise, const mlx_stream s), (r, a, axis, precise, s)) \
	X(int, mlx_where, (mlx_array* r, const mlx_array c, const mlx_array x, const mlx_array y, const mlx_stream s), (r, c, x, y, s)) \
	X(int, mlx_astype, (mlx_array* r, const mlx_array a, mlx_dtype t, const mlx_stream s), (r, a, t, s)) \
	X(int, mlx_contiguous, (mlx_array* r, const mlx_array a, bool allow_col_major, const mlx_stream s), (r, a, allow_col_major, s)) \
	X(int, mlx_reshape, (mlx_array* r, const mlx_array a, const int* shape, size_t n, const mlx_stream s), (r, a, shape, n, s)) \
	X(int, mlx_transpose_axes, (mlx_array* r, const mlx_array a, const int* axes, size_t n, const mlx_stream s), (r, a, axes, n, s)) \
	X(int, mlx_swapaxes, (mlx_array* r, const mlx_array a, int a1, int a2, const mlx_stream s), (r, a, a1, a2, s)) \
	X(int, mlx_expand_dims, (mlx_array* r, const mlx_array a, int axis, const mlx_stream s), (r, a, axis, s)) \
	X(int, mlx_slice, (mlx_array* r, const mlx_array a, const int* start, size_t ns, const int* stop, size_t ne, const int* strides, size_t nst, const mlx_stream s), (r, a, start, ns, stop, ne, strides, nst, s)) \
	X(int, mlx_slice_update, (mlx_array* r, const mlx_array src, const mlx_array upd, const int* start, size_t ns, const int* stop, size_t ne, const int* strides, size_t nst, const mlx_stream s), (r, src, upd, start, ns, stop, ne, strides, nst, s)) \
	X(int, mlx_concatenate_axis, (mlx_array* r, const mlx_vector_array v, int axis, const mlx_stream s), (r, v, axis, s)) \
	X(int, mlx_zeros, (mlx_array* r, const int* shape, size_t n, mlx_dtype t, const mlx_stream s), (r, shape, n, t, s)) \
	X(int, mlx_take_axis, (mlx_array* r, const mlx_array a, const mlx_array idx, int axis, const mlx_stream s), (r, a, idx, axis, s)) \
	X(int, mlx_quantized_matmul, (mlx_array* r, const mlx_array x, const mlx_array w, const mlx_array scales, const mlx_array biases, bool transpose, mlx_optional_int group_size, mlx_optional_int bits, const char* mode, const mlx_stream s), (r, x, w, scales, biases, transpose, group_size, bits, mode, s)) \
	X(int, mlx_dequantize, (mlx_array* r, const mlx_array w, const mlx_array scales, const mlx_array biases, mlx_optional_int group_size, mlx_optional_int bits, const char* mode, const mlx_array global_scale, mlx_optional_dtype dtype, const mlx_stream s), (r, w, scales, biases, group_size, bits, mode, global_scale, dtype, s)) \
	X(int, mlx_fast_rms_norm, (mlx_array* r, const mlx_array x, const mlx_array w, float eps, const mlx_stream s), (r, x, w, eps, s)) \
	X(int, mlx_fast_rope, (mlx_array* r, const mlx_array x, int dims, bool traditional, mlx_optional_float base, float scale, int offset, const mlx_array freqs, const mlx_stream s), (r, x, dims, traditional, base, scale, offset, freqs, s)) \
	X(int, mlx_fast_scaled_dot_product_attention, (mlx_array* r, const mlx_array q, const mlx_array k, const mlx_array v, float scale, const char* mask_mode, const mlx_array mask, const mlx_array sinks, const mlx_stream s), (r, q, k, v, scale, mask_mode, mask, sinks, s))

// MLX_VOID_FUNCS: required functions returning void.
#define MLX_VOID_FUNCS(X) \
	X(mlx_set_error_handler, (mlx_error_handler_func h, void* data, void (*dtor)(void*)), (h, data, dtor))

// MLX_OPTIONAL_FUNCS: looked up but not required (absent from some builds).
#define MLX_OPTIONAL_FUNCS(X) \
	X(int, mlx_cuda_is_available, (bool* res), (res)) \
	X(mlx_device_info, mlx_device_info_new, (void), ()) \
	X(int, mlx_device_info_get, (mlx_device_info* info, mlx_device d), (info, d)) \
	X(int, mlx_device_info_free, (mlx_device_info info), (info)) \
	X(int, mlx_device_info_has_key, (bool* ok, mlx_device_info info, const char* key), (ok, info, key)) \
	X(int, mlx_device_info_is_string, (bool* ok, mlx_device_info info, const char* key), (ok, info, key)) \
	X(int, mlx_device_info_get_string, (const char** v, mlx_device_info info, const char* key), (v, info, key)) \
	X(int, mlx_device_info_get_size, (size_t* v, mlx_device_info info, const char* key), (v, info, key))


// The wrappers carry mlx-c's own names but hidden visibility: they must never
// interpose on the library's symbols (or be seen by it).
#pragma GCC visibility push(hidden)
#define IMP_DECL(ret, name, params, args) ret name params;
#define IMP_VDECL(name, params, args) void name params;
#define IMP_HASDECL(ret, name, params, args) int has_##name(void);
MLX_FUNCS(IMP_DECL)
MLX_VOID_FUNCS(IMP_VDECL)
MLX_OPTIONAL_FUNCS(IMP_DECL)
MLX_OPTIONAL_FUNCS(IMP_HASDECL)

void* imp_dlopen(const char* path, const char** err);
const char* imp_resolve(void* h);
int imp_pending_version(char* buf, size_t n);
void imp_activate(void);
void imp_install_error_handler(void);
int imp_take_error(char* buf, size_t n);
#pragma GCC visibility pop

#endif
