/* Shared by the parts of chronodbg.recorder._hooks: _hooks.c (the hooks, the module), _watch.c (the watchdog's
 * feed) and _untraced.c (the recorder's wrappers out of settrace's way). */
#ifndef CHRONODBG_HOOKS_H
#define CHRONODBG_HOOKS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

/* The first fields of every wrapper of a method in this module (_hooks.c's, _untraced.c's). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *original; /* the method or function it stands in for */
} Wrapper;

/* What the wrappers' types share (_hooks.c): tp_dealloc (through the type's tp_clear), tp_descr_get (a
 * method: obj.method binds obj), and tp_getset (the original's names, __wrapped__, the `_cgr` mark). */
void wrapper_dealloc(PyObject *op);
PyObject *wrapper_get(PyObject *op, PyObject *obj, PyObject *type);
extern PyGetSetDef wrapper_getset[];

/* *slot = the interned `text`, unless already made: 0, or -1 with an error set. */
int cgr_intern(PyObject **slot, const char *text);

/* Adds watch_feed to the module: 0, or -1 with an error set. */
int cgr_watch_init(PyObject *module);

/* Adds Untraced and Traced (_untraced.c): 0, or -1 with an error set. */
int cgr_untraced_init(PyObject *module);

#endif
