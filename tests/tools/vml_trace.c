/* A tripwire for MKL's vector math (VML) in PyTorch on CPU: preloaded (LD_PRELOAD) into a Python process, it takes
 * the place of the vms/vmd functions libtorch_cpu.so calls through its PLT, counts the calls and elements per function
 * and forwards them to libtorch's own implementation. At exit it appends "pid function calls elements" lines to the
 * file named by AMSS_VML_TRACE. tests/test_numerics_vml.py builds it with the C compiler and runs real training and
 * scoring under it: the pipeline must not call VML, whose results depend on the processor (models/portable.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>

typedef void (*fn_s)(int, const float *, float *, int64_t);
typedef void (*fn_d)(int, const double *, double *, int64_t);

#define NFUNCS 19
static const char *names[NFUNCS] = {"Sqrt", "Exp", "Ln", "Log10", "Log2", "Tanh", "Sin", "Cos", "Tan", "Acos",
                                    "Asin", "Atan", "Erf", "Erfc", "ErfInv", "Trunc", "Expm1", "Log1p", "Abs"};
static long long calls[2][NFUNCS], elems[2][NFUNCS];

static void dump(void) {
    const char *path = getenv("AMSS_VML_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f) return;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < NFUNCS; i++)
            if (calls[t][i]) fprintf(f, "%d vm%c%s %lld %lld\n", (int)getpid(), t ? 100 : 115, names[i], calls[t][i], elems[t][i]);
    fclose(f);
}
__attribute__((constructor)) static void init(void) { atexit(dump); }

static void *torch_lib(void) {
    static void *h;
    if (!h) h = dlopen("libtorch_cpu.so", RTLD_NOLOAD | RTLD_LAZY);
    if (!h) { fprintf(stderr, "vml_trace: libtorch_cpu.so is not loaded\n"); abort(); }
    return h;
}
#define WRAP(I, NAME)                                                                     \
    void vms##NAME(int n, const float *a, float *r, int64_t mode) {                       \
        static fn_s real; if (!real) real = (fn_s)dlsym(torch_lib(), "vms" #NAME);          \
        calls[0][I]++; elems[0][I] += n; real(n, a, r, mode);                            \
    }                                                                                     \
    void vmd##NAME(int n, const double *a, double *r, int64_t mode) {                     \
        static fn_d real; if (!real) real = (fn_d)dlsym(torch_lib(), "vmd" #NAME);          \
        calls[1][I]++; elems[1][I] += n; real(n, a, r, mode);                            \
    }
WRAP(0, Sqrt) WRAP(1, Exp) WRAP(2, Ln) WRAP(3, Log10) WRAP(4, Log2) WRAP(5, Tanh) WRAP(6, Sin) WRAP(7, Cos)
WRAP(8, Tan) WRAP(9, Acos) WRAP(10, Asin) WRAP(11, Atan) WRAP(12, Erf) WRAP(13, Erfc) WRAP(14, ErfInv)
WRAP(15, Trunc) WRAP(16, Expm1) WRAP(17, Log1p) WRAP(18, Abs)
