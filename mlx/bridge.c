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

// imp_resolve fills the function table. It returns NULL, or the name of the
// first required symbol the library lacks.
const char* imp_resolve(void* h) {
	// Resolve into a scratch table and install it only when complete, so a
	// failed attempt never disturbs a library already in use.
	__typeof__(imp_fns) t;
	memset(&t, 0, sizeof t);
#define IMP_LOAD(ret, name, params, args) t.p_##name = (ret (*) params)dlsym(h, #name); if (!t.p_##name) return #name;
#define IMP_VLOAD(name, params, args) t.p_##name = (void (*) params)dlsym(h, #name); if (!t.p_##name) return #name;
#define IMP_OLOAD(ret, name, params, args) t.p_##name = (ret (*) params)dlsym(h, #name);
	MLX_FUNCS(IMP_LOAD)
	MLX_VOID_FUNCS(IMP_VLOAD)
	MLX_OPTIONAL_FUNCS(IMP_OLOAD)
	imp_fns = t;
	return NULL;
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
