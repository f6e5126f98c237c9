/* A frame's locals read from its variables, without the namespace PyFrame_GetLocals makes.
 *
 * Every sampled event and every line event reads the locals of a frame. The
 * public way, PyFrame_GetLocals, copies all of them into a dict cached on the
 * frame before 3.13 (a dict insert per name, then the sampler empties it
 * again), and wraps them in a proxy from 3.13 whose items() builds a list of
 * pairs. In W1's profile (two locals) that was about a third of the
 * sampler's time. Here the interpreter's own array of the frame's variables
 * is read, through CPython's internal frame header: included only for the
 * versions it was written against (3.11 to 3.13), and only where the header
 * is installed; elsewhere every read goes through the namespace.
 *
 * It answers only where the result is exactly what reading the namespace
 * would give, so that both ways record the same snapshots:
 * - a function's frame (CO_OPTIMIZED), whose variables are all plain locals:
 *   no cells or free variables (their values live in cell objects, and before
 *   a frame's first instruction not yet there), no hidden ones (3.12's inlined
 *   comprehensions);
 * - before 3.13, no dict on the frame that holds anything, nor one anybody
 *   else holds: filling an empty dict in the variables' order and reading it
 *   gives the variables in that order, as here; a filled one keeps the order
 *   in which names were first bound, and may hold names put there by hand;
 * - from 3.13, no names put into the frame's locals by hand (they come after
 *   the variables in the proxy's items).
 * Unbound variables are left out, as the namespace leaves them out.
 */
#include "_sampler.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 && defined(__has_include)
#if __has_include("internal/pycore_frame.h")
#define CGR_FAST_LOCALS 1
#endif
#endif

#ifdef CGR_FAST_LOCALS
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE

/* The kinds of a code's variables (pycore_code.h, which 3.11's frame header does not include). */
#ifndef CO_FAST_LOCAL
#define CO_FAST_LOCAL 0x20
#define CO_FAST_CELL 0x40
#define CO_FAST_FREE 0x80
#endif
#ifndef CO_FAST_HIDDEN
#define CO_FAST_HIDDEN 0 /* before 3.12, none */
#endif

/* Whether each of the code's variables is a plain local. */
static int
plain_locals_only(PyCodeObject *code)
{
    const char *kinds = PyBytes_AS_STRING(code->co_localspluskinds);
    for (int i = 0; i < code->co_nlocalsplus; i++) {
        if ((kinds[i] & (CO_FAST_CELL | CO_FAST_FREE | CO_FAST_HIDDEN)) || !(kinds[i] & CO_FAST_LOCAL)) {
            return 0;
        }
    }
    return 1;
}

/* Whether nothing but the variables would show in the namespace (see above). */
static int
namespace_is_variables(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *extra = frame->f_extra_locals;
    return extra == NULL || (PyDict_CheckExact(extra) && PyDict_GET_SIZE(extra) == 0);
#else
    PyObject *cached = frame->f_frame->f_locals;
    return cached == NULL || (PyDict_CheckExact(cached) && PyDict_GET_SIZE(cached) == 0 && Py_REFCNT(cached) == 1);
#endif
}

#endif /* CGR_FAST_LOCALS */

int
cgr_locals_direct(Locals *locals, PyFrameObject *frame)
{
    locals->names = locals->names_on_stack;
    locals->values = locals->values_on_stack;
    locals->count = 0;
#ifdef CGR_FAST_LOCALS
    PyCodeObject *code = PyFrame_GetCode(frame);
    int usable = (code->co_flags & CO_OPTIMIZED) && code->co_nlocalsplus <= LOCALS_ON_STACK &&
                 plain_locals_only(code) && namespace_is_variables(frame);
    if (usable) {
        PyObject **variables = frame->f_frame->localsplus;
        for (int i = 0; i < code->co_nlocalsplus; i++) {
            PyObject *value = variables[i];
            if (value != NULL) {
                locals->names[locals->count] = Py_NewRef(PyTuple_GET_ITEM(code->co_localsplusnames, i));
                locals->values[locals->count] = Py_NewRef(value);
                locals->count++;
            }
        }
    }
    Py_DECREF(code);
    return usable;
#else
    return 0;
#endif
}

PyObject *
cgr_local_direct(PyFrameObject *frame, Py_ssize_t index, PyObject *name, int *read)
{
#ifdef CGR_FAST_LOCALS
    PyCodeObject *code = PyFrame_GetCode(frame);
    /* A plain local is the same object in the namespace as in the variables, whatever else the namespace holds. */
    *read = (code->co_flags & CO_OPTIMIZED) && index < code->co_nlocalsplus &&
            PyTuple_GET_ITEM(code->co_localsplusnames, index) == name &&
            (PyBytes_AS_STRING(code->co_localspluskinds)[index] & (CO_FAST_LOCAL | CO_FAST_CELL | CO_FAST_FREE |
                                                                   CO_FAST_HIDDEN)) == CO_FAST_LOCAL;
    Py_DECREF(code);
    return *read ? Py_XNewRef(frame->f_frame->localsplus[index]) : NULL;
#else
    *read = 0;
    return NULL;
#endif
}
