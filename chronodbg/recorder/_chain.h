/*
 * Exception chaining shared by the recorder's C extensions (_hotpath.c, _locks.c).
 */
#ifndef CHRONODBG_CHAIN_H
#define CHRONODBG_CHAIN_H

#include <Python.h>

/* An exception is set, raised while handling (type, value, tb), which were
 * fetched before: make the handled one its __context__, as Python does for
 * an error inside an `except` block. Steals the three references. */
static inline void
cgr_chain_context(PyObject *type, PyObject *value, PyObject *tb)
{
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *type2, *value2, *tb2;
    PyErr_Fetch(&type2, &value2, &tb2);
    PyErr_NormalizeException(&type2, &value2, &tb2);
    if (value2 != NULL && value != NULL) {
        PyException_SetContext(value2, value); /* steals value */
        value = NULL;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Restore(type2, value2, tb2);
}

#endif
