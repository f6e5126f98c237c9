/*
 * A recorded object among a frame's locals (issue 8): `Summariser.recorded_key`
 * and `_same_recorded` (chronodbg/recorder/snapshot.py), the check in C.
 *
 * A recorded lock, queue or task is summarised as its label (`Queue#3`),
 * which depends only on its object id, so a sample that finds the same
 * object with the same id reuses the summary it made last time instead of
 * calling back into Python for it. The key is (type, id, object id); the
 * first sample of such a local asks the Python method, which decides whether
 * the object has a label at all (and caches the kind of its type in
 * Summariser._recorded, which is read here).
 */
#include "_sampler.h"

static PyObject *str_slot, *str_dict, *str_task, *str_oid, *str_dunder_dict, *str_cgr_oid, *str_cgr_task;

int
cgr_recorded_init(void)
{
#define INTERN(var, text)                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL) { \
        return -1;                                          \
    }
    INTERN(str_slot, "slot");
    INTERN(str_dict, "dict");
    INTERN(str_task, "task");
    INTERN(str_oid, "_oid");
    INTERN(str_dunder_dict, "__dict__");
    INTERN(str_cgr_oid, "_cgr_oid");
    INTERN(str_cgr_task, "_cgr_task");
#undef INTERN
    return 0;
}

static int
is(PyObject *how, PyObject *name)
{
    return how == name || (PyUnicode_CheckExact(how) && PyUnicode_Compare(how, name) == 0);
}

/* snapshot._oid_of(value, how): a new reference (Py_None when there is none), NULL on error. */
static PyObject *
oid_of(PyObject *value, PyObject *how)
{
    PyObject *oid;
    if (is(how, str_slot)) {
        oid = PyObject_GetAttr(value, str_oid);
    }
    else if (is(how, str_dict)) {
        PyObject *attrs = PyObject_GenericGetAttr(value, str_dunder_dict);
        if (attrs == NULL) {
            return NULL;
        }
        if (!PyDict_Check(attrs)) {
            /* `.get` of something else: the Python path's call fails. */
            Py_DECREF(attrs);
            PyErr_SetString(PyExc_TypeError, "__dict__ is not a dict");
            return NULL;
        }
        oid = PyDict_GetItemWithError(attrs, str_cgr_oid);
        Py_XINCREF(oid);
        Py_DECREF(attrs);
        if (oid == NULL && !PyErr_Occurred()) {
            oid = Py_NewRef(Py_None);
        }
    }
    else if (is(how, str_task)) {
        oid = PyObject_GenericGetAttr(value, str_cgr_task);
    }
    else {
        return Py_NewRef(Py_None);
    }
    if (oid != NULL && !PyLong_CheckExact(oid)) {
        Py_SETREF(oid, Py_NewRef(Py_None));
    }
    return oid;
}

/* An Exception is the answer "no" (as the Python method's `except Exception`); anything else propagates. */
static int
no_unless_fatal(void)
{
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Whether `key` = (type, id, object id) is still `value`'s: 1, 0, or -1 on an error that is not an Exception. */
int
cgr_same_recorded(Sampler *self, PyObject *key, PyTypeObject *cls, PyObject *value)
{
    if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 3 || PyTuple_GET_ITEM(key, 0) != (PyObject *)cls) {
        return 0;
    }
    PyObject *ident = PyTuple_GET_ITEM(key, 1);
    if (!PyLong_CheckExact(ident)) {
        return 0;
    }
    void *address = PyLong_AsVoidPtr(ident);
    if (address != (void *)value) {
        if (address == NULL && PyErr_Occurred()) {
            PyErr_Clear();
        }
        return 0;
    }
    PyObject *how = PyDict_GetItemWithError(self->recorded, (PyObject *)cls);
    if (how == NULL) {
        return PyErr_Occurred() ? no_unless_fatal() : 0;
    }
    Py_INCREF(how);
    PyObject *oid = oid_of(value, how);
    Py_DECREF(how);
    if (oid == NULL) {
        return no_unless_fatal();
    }
    int same = oid != Py_None && PyObject_RichCompareBool(oid, PyTuple_GET_ITEM(key, 2), Py_EQ);
    Py_DECREF(oid);
    return same < 0 ? no_unless_fatal() : same;
}

PyObject *
cgr_recorded_key(Sampler *self, PyTypeObject *cls, PyObject *value)
{
    /* `summariser.recorded_key(value) if summariser._recorded.get(cls, "") is not None else None` */
    PyObject *how = PyDict_GetItemWithError(self->recorded, (PyObject *)cls);
    if (how == Py_None) {
        return Py_NewRef(Py_None);
    }
    if (how == NULL && PyErr_Occurred()) {
        /* A metaclass __hash__: the Python path's `.get` raises too, past the sample's handlers. */
        return NULL;
    }
    return PyObject_CallOneArg(self->recorded_key, value);
}
