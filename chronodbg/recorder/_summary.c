/* Summaries of values in C: Summariser.value (snapshot.py) for the builtins a program's
 * locals and events mostly hold, the rest handed to the Python method. */
#include "_sampler.h"

#include <math.h>

int
cgr_is_immutable(PyTypeObject *cls)
{
    return cls == &PyLong_Type || cls == &PyUnicode_Type || cls == &PyFloat_Type || cls == &PyBool_Type ||
           cls == Py_TYPE(Py_None) || cls == &PyBytes_Type;
}

/* (tag_error, type(exc).__name__) for the Exception being raised, which is cleared;
 * NULL (still raised) if it is not an Exception or the pair cannot be made. */
PyObject *
cgr_error_summary(Sampler *self)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *cls = value != NULL ? (PyObject *)Py_TYPE(value) : type;
    PyObject *name = PyObject_GetAttrString(cls, "__name__");
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (name == NULL) {
        return NULL;
    }
    PyObject *summary = PyTuple_Pack(2, self->tag_error, name);
    Py_DECREF(name);
    return summary;
}

/* (("<locals>", error summary),): a snapshot of a frame whose locals could not
 * be read, for the Exception being raised (which is cleared); NULL (still
 * raised) if it is not an Exception. */
PyObject *
cgr_unreadable_locals(Sampler *self)
{
    PyObject *error = cgr_error_summary(self);
    if (error == NULL) {
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, self->locals_name, error);
    Py_DECREF(error);
    if (pair == NULL) {
        return NULL;
    }
    PyObject *result = PyTuple_Pack(1, pair);
    Py_DECREF(pair);
    return result;
}

/* Whether `ident` (an int made by PyLong_FromVoidPtr) is the address of `value`. */
int
cgr_same_address(PyObject *ident, PyObject *value)
{
    if (!PyLong_CheckExact(ident)) {
        return 0;
    }
    void *address = PyLong_AsVoidPtr(ident);
    if (address == NULL && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return address == (void *)value;
}

/* Summariser.is_secret(name), its memo read first: 1, 0, or -1 with an exception set. */
int
cgr_is_secret(Sampler *self, PyObject *name)
{
    PyObject *flag = PyDict_GetItemWithError(self->secret, name);
    if (flag != NULL) {
        return PyObject_IsTrue(flag);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    Py_INCREF(name);
    PyObject *answer = PyObject_CallOneArg(self->is_secret, name);
    Py_DECREF(name);
    int secret = answer == NULL ? -1 : PyObject_IsTrue(answer);
    Py_XDECREF(answer);
    return secret;
}

PyObject *
cgr_identity_of(PyTypeObject *cls, PyObject *value)
{
    PyObject *ident = PyLong_FromVoidPtr(value);
    if (ident == NULL) {
        return NULL;
    }
    PyObject *identity = PyTuple_Pack(2, (PyObject *)cls, ident);
    Py_DECREF(ident);
    return identity;
}

/* Pairs made before, by the addresses of their name and summary. A pair holds
 * both, so while it is here no other object takes either address: the same
 * two addresses are the same two objects, and a summary does not change. Only
 * summaries that are not containers are kept (a small int, a string, None: an
 * argument or a variable that takes the same few values over and over), each
 * pair once, untracked, so that what is kept stays small and outside the
 * collector's lists. */
#define PAIR_SLOTS 1024 /* a power of two */
static PyObject *pair_slots[PAIR_SLOTS];

PyObject *
cgr_pair(PyObject *name, PyObject *summary)
{
    if (PyObject_IS_GC(summary) || PyObject_IS_GC(name)) {
        return PyTuple_Pack(2, name, summary);
    }
    uintptr_t mixed = ((uintptr_t)name >> 4) * 0x9E3779B1u ^ ((uintptr_t)summary >> 4);
    PyObject **slot = &pair_slots[(mixed ^ (mixed >> 12)) & (PAIR_SLOTS - 1)];
    PyObject *pair = *slot;
    if (pair != NULL && PyTuple_GET_ITEM(pair, 0) == name && PyTuple_GET_ITEM(pair, 1) == summary) {
        return Py_NewRef(pair);
    }
    pair = PyTuple_New(2);
    if (pair == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, Py_NewRef(name));
    PyTuple_SET_ITEM(pair, 1, Py_NewRef(summary));
    PyObject_GC_UnTrack(pair);
    /* The pair it replaces holds no container: freeing it runs no Python code. */
    Py_XSETREF(*slot, Py_NewRef(pair));
    return pair;
}

/* Append (name, summary) to pairs; steals nothing. */
int
cgr_add_pair(PyObject *pairs, PyObject *name, PyObject *summary)
{
    PyObject *pair = cgr_pair(name, summary);
    if (pair == NULL) {
        return -1;
    }
    int failed = PyList_Append(pairs, pair);
    Py_DECREF(pair);
    return failed;
}

/* snapshot.same_summary: whether two summaries are the same encoding (equal,
 * item by item, with equal types; floats by value and sign). -1 on error. */
int
cgr_same_summary(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    PyTypeObject *cls = Py_TYPE(a);
    if (cls != Py_TYPE(b)) {
        return 0;
    }
    if (cls == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(a);
        if (n != PyTuple_GET_SIZE(b)) {
            return 0;
        }
        if (Py_EnterRecursiveCall(" comparing summaries")) {
            return -1;
        }
        int same = 1;
        for (Py_ssize_t i = 0; i < n && same == 1; i++) {
            same = cgr_same_summary(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i));
        }
        Py_LeaveRecursiveCall();
        return same;
    }
    if (cls == &PyFloat_Type) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return x == y && copysign(1.0, x) == copysign(1.0, y);
    }
    if (cls == &PyLong_Type || cls == &PyUnicode_Type || cls == &PyBytes_Type) {
        /* Exact builtins: comparing them runs no user code. */
        return PyObject_RichCompareBool(a, b, Py_EQ);
    }
    return 0;
}

PyObject *
cgr_attr_int(PyObject *obj, PyObject *name, Py_ssize_t *out)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return NULL;
    }
    *out = PyNumber_AsSsize_t(value, PyExc_OverflowError);
    Py_DECREF(value);
    if (*out == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return Py_None;
}


static PyObject *summarise(Sampler *self, const Limits *limits, PyObject *value, Py_ssize_t depth);

/* Summariser.value(value, depth), in Python: what the C summary leaves to it. */
static PyObject *
summarise_in_python(Sampler *self, PyObject *value, Py_ssize_t depth)
{
    PyObject *level = PyLong_FromSsize_t(depth);
    if (level == NULL) {
        return NULL;
    }
    PyObject *summary = PyObject_CallFunctionObjArgs(self->value, value, level, NULL);
    Py_DECREF(level);
    return summary;
}

/* (tag, length, items), stealing `items` (Py_BuildValue parses its format at every call). */
static PyObject *
container_summary(PyObject *tag, Py_ssize_t length, PyObject *items)
{
    if (items == NULL) {
        return NULL;
    }
    PyObject *size = PyLong_FromSsize_t(length);
    PyObject *summary = size == NULL ? NULL : PyTuple_New(3);
    if (summary == NULL) {
        Py_XDECREF(size);
        Py_DECREF(items);
        return NULL;
    }
    PyTuple_SET_ITEM(summary, 0, Py_NewRef(tag));
    PyTuple_SET_ITEM(summary, 1, size);
    PyTuple_SET_ITEM(summary, 2, items);
    return summary;
}

/* A dict or list's first items: NULL with nothing raised means "let Python do the whole container". */
static PyObject *
summarise_dict(Sampler *self, const Limits *limits, PyObject *value, Py_ssize_t depth)
{
    Py_ssize_t length = PyDict_GET_SIZE(value);
    if (depth >= limits->max_depth) {
        return container_summary(self->dict_tag, length, Py_NewRef(Py_None));
    }
    PyObject *pairs = PyList_New(0);
    if (pairs == NULL) {
        return NULL;
    }
    Py_ssize_t position = 0;
    PyObject *key, *item;
    while (PyList_GET_SIZE(pairs) < limits->max_items && PyDict_Next(value, &position, &key, &item)) {
        if (PyUnicode_CheckExact(key)) {
            /* A secret's value is never summarised; a key that needs cleaning is Python's. */
            if (!PyUnicode_IS_ASCII(key)) {
                Py_DECREF(pairs);
                return NULL;
            }
            int secret = cgr_is_secret(self, key);
            if (secret < 0 || PyDict_GET_SIZE(value) != length) {
                Py_DECREF(pairs);
                return NULL;
            }
            if (secret) {
                PyObject *pair = PyTuple_Pack(2, key, self->redacted);
                int failed = pair == NULL || PyList_Append(pairs, pair) < 0;
                Py_XDECREF(pair);
                if (failed) {
                    Py_DECREF(pairs);
                    return NULL;
                }
                continue;
            }
        }
        Py_INCREF(key);
        Py_INCREF(item);
        PyObject *k = summarise(self, limits, key, depth + 1);
        PyObject *v = k == NULL ? NULL : summarise(self, limits, item, depth + 1);
        Py_DECREF(key);
        Py_DECREF(item);
        PyObject *pair = v == NULL ? NULL : PyTuple_Pack(2, k, v);
        Py_XDECREF(k);
        Py_XDECREF(v);
        /* Changed under us: Python says so its own way. */
        int failed = pair == NULL || PyDict_GET_SIZE(value) != length || PyList_Append(pairs, pair) < 0;
        Py_XDECREF(pair);
        if (failed) {
            Py_DECREF(pairs);
            return NULL;
        }
    }
    PyObject *items = PyList_AsTuple(pairs);
    Py_DECREF(pairs);
    return container_summary(self->dict_tag, length, items);
}

static PyObject *
summarise_sequence(Sampler *self, const Limits *limits, PyObject *value, PyObject *tag, Py_ssize_t depth)
{
    Py_ssize_t length = Py_SIZE(value);
    if (depth >= limits->max_depth) {
        return container_summary(tag, length, Py_NewRef(Py_None));
    }
    Py_ssize_t count = length < limits->max_items ? length : limits->max_items;
    PyObject *items = PyTuple_New(count);
    if (items == NULL) {
        return NULL;
    }
    int is_list = PyList_CheckExact(value);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (Py_SIZE(value) != length) {
            Py_DECREF(items);
            return NULL;
        }
        PyObject *item = is_list ? PyList_GET_ITEM(value, i) : PyTuple_GET_ITEM(value, i);
        Py_INCREF(item);
        PyObject *summary = summarise(self, limits, item, depth + 1);
        Py_DECREF(item);
        if (summary == NULL) {
            Py_DECREF(items);
            return NULL;
        }
        PyTuple_SET_ITEM(items, i, summary);
    }
    return container_summary(tag, length, items);
}

/* Summariser.value(value, depth) for the builtins a program's locals mostly hold;
 * the rest, and any container whose summary raised, goes to the Python method. */
static PyObject *
summarise(Sampler *self, const Limits *limits, PyObject *value, Py_ssize_t depth)
{
    PyTypeObject *cls = Py_TYPE(value);
    if (cls == &PyLong_Type) {
        int overflow;
        long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (small == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow == 0) {
            return Py_NewRef(value);
        }
        if (overflow > 0) {
            PyLong_AsUnsignedLongLong(value);
            if (!PyErr_Occurred()) {
                return Py_NewRef(value); /* up to 2**64 - 1 */
            }
            PyErr_Clear();
        }
        return summarise_in_python(self, value, depth);
    }
    if (cls == &PyUnicode_Type) {
        if (PyUnicode_IS_ASCII(value) && PyUnicode_GET_LENGTH(value) <= limits->max_str) {
            return Py_NewRef(value);
        }
        return summarise_in_python(self, value, depth);
    }
    if (cls == &PyFloat_Type || cls == &PyBool_Type || cls == Py_TYPE(Py_None)) {
        return Py_NewRef(value);
    }
    if (cls == &PyBytes_Type && PyBytes_GET_SIZE(value) <= limits->max_str) {
        return Py_NewRef(value);
    }
    if (!limits->use_repr) {
        PyObject *summary = NULL;
        int tried = 1;
        if (cls == &PyDict_Type) {
            summary = summarise_dict(self, limits, value, depth);
        }
        else if (cls == &PyList_Type) {
            summary = summarise_sequence(self, limits, value, self->list_tag, depth);
        }
        else if (cls == &PyTuple_Type) {
            summary = summarise_sequence(self, limits, value, self->tuple_tag, depth);
        }
        else {
            tried = 0;
            int plain = PySet_Contains(self->plain, (PyObject *)cls);
            if (plain < 0) {
                PyErr_Clear();
            }
            else if (plain) {
                PyObject *name = PyDict_GetItemWithError(self->type_names, (PyObject *)cls);
                if (name != NULL) {
                    PyObject *ident = PyLong_FromVoidPtr(value);
                    return ident == NULL ? NULL : Py_BuildValue("(OON)", self->obj_tag, name, ident);
                }
                PyErr_Clear();
            }
        }
        if (summary != NULL) {
            return summary;
        }
        if (tried) {
            /* Something in it needs Python's care (and its handling of what raises). */
            if (PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                    return NULL;
                }
                PyErr_Clear();
            }
        }
    }
    return summarise_in_python(self, value, depth);
}

/* Summariser.safe_value: a summary, or (TAG_ERROR, exception type name). */
PyObject *
cgr_safe_summary(Sampler *self, const Limits *limits, PyObject *value)
{
    PyObject *summary = summarise(self, limits, value, 0);
    if (summary == NULL) {
        return cgr_error_summary(self);
    }
    return summary;
}

/* The summariser's limits as they are now: kept after the first read, read
 * again after forget_limits() (Summariser.__setattr__ calls it when one changes). */
int
cgr_read_limits(Sampler *self, Limits *limits)
{
    if (self->limits_known) {
        *limits = self->limits;
        return 0;
    }
    if (cgr_attr_int(self->summariser, self->max_names_attr, &limits->max_names) == NULL ||
        cgr_attr_int(self->summariser, self->max_str_attr, &limits->max_str) == NULL ||
        cgr_attr_int(self->summariser, self->max_items_attr, &limits->max_items) == NULL ||
        cgr_attr_int(self->summariser, self->max_depth_attr, &limits->max_depth) == NULL) {
        return -1;
    }
    PyObject *use_repr = PyObject_GetAttr(self->summariser, self->use_repr_attr);
    if (use_repr == NULL) {
        return -1;
    }
    limits->use_repr = PyObject_IsTrue(use_repr);
    Py_DECREF(use_repr);
    if (limits->use_repr < 0) {
        return -1;
    }
    self->limits = *limits;
    self->limits_known = 1;
    return 0;
}
