// bridge.c: the dlsym table behind bridge.h and the MLX error handler.
#include "bridge.h"

#define IMP_PTR(ret, name, params, args) ret (*p_##name) params;
#define IMP_VPTR(name, params, args) void (*p_##name) params;
static struct {
	MLX_FUNCS(IMP_PTR)
	MLX_VOID_FUNCS(IMP_VPTR)
	MLX_OPTIONAL_FUNCS(IMP_PTR)
} imp_fns;

#define IMP_WRAP(ret, name, params, args) ret name params { return imp_fns.p_##name args; }
#define IMP_VWRAP(name, params, args) void name params { imp_fns.p_##name args; }
MLX_FUNCS(IMP_WRAP)
MLX_VOID_FUNCS(IMP_VWRAP)
MLX_OPTIONAL_FUNCS(IMP_WRAP)

#define IMP_HAS(ret, name, params, args) int has_##name(void) { return imp_fns.p_##name != NULL; }
MLX_OPTIONAL_FUNCS(IMP_HAS)

// imp_dlopen opens the library; on failure *err holds dlerror's text.
void* imp_dlopen(const char* path, const char** err) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*err = dlerror();
	}
	return h;
}

// A library is resolved into imp_pending, checked (every required symbol,
// then its version), and only then made active: a rejected library never
// disturbs one already in use.
static __typeof__(imp_fns) imp_pending;

// imp_resolve fills the pending table. It returns NULL, or the name of the
// first required symbol the library lacks.
const char* imp_resolve(void* h) {
	__typeof__(imp_fns) t;
	memset(&t, 0, sizeof t);
#define IMP_LOAD(ret, name, params, args) t.p_##name = (ret (*) params)dlsym(h, #name); if (!t.p_##name) return #name;
#define IMP_VLOAD(name, params, args) t.p_##name = (void (*) params)dlsym(h, #name); if (!t.p_##name) return #name;
#define IMP_OLOAD(ret, name, params, args) t.p_##name = (ret (*) params)dlsym(h, #name);
	MLX_FUNCS(IMP_LOAD)
	MLX_VOID_FUNCS(IMP_VLOAD)
	MLX_OPTIONAL_FUNCS(IMP_OLOAD)
	imp_pending = t;
	return NULL;
}

// imp_pending_version copies the pending library's MLX version into buf;
// it returns non-zero on failure.
int imp_pending_version(char* buf, size_t n) {
	mlx_string s = imp_pending.p_mlx_string_new();
	if (imp_pending.p_mlx_version(&s) != 0) {
		return 1;
	}
	const char* v = imp_pending.p_mlx_string_data(s);
	strncpy(buf, v ? v : "", n - 1);
	buf[n - 1] = 0;
	imp_pending.p_mlx_string_free(s);
	return 0;
}

// imp_activate makes the pending table the one the wrappers call.
void imp_activate(void) {
	imp_fns = imp_pending;
}

// The error handler stores MLX's message instead of printing it and calling
// exit (mlx-c's default). Every mlx-c call that fails returns non-zero after
// calling the handler; the Go side then reads and clears the message. All
// calls are made on one thread, so one buffer suffices; the flag guards
// against a message left by a call whose status was not checked.
static char imp_errbuf[2048];
static int imp_errset;

static void imp_error_handler(const char* msg, void* data) {
	(void)data;
	if (imp_errset) {
		return; // keep the first error of a sequence
	}
	strncpy(imp_errbuf, msg ? msg : "(no message)", sizeof(imp_errbuf) - 1);
	imp_errbuf[sizeof(imp_errbuf) - 1] = 0;
	imp_errset = 1;
}

void imp_install_error_handler(void) {
	mlx_set_error_handler(imp_error_handler, NULL, NULL);
}

// imp_take_error copies the pending message into buf and clears it; it
// returns 0 when there was none.
int imp_take_error(char* buf, size_t n) {
	if (!imp_errset) {
		return 0;
	}
	strncpy(buf, imp_errbuf, n - 1);
	buf[n - 1] = 0;
	imp_errset = 0;
	return 1;
}
