/* The locals sampler of chronodbg's recorder in C: Summariser.frame_locals without the interpreter.
 *
 * Sampling a frame's locals at every sync event is most of a busy program's
 * recording cost when it is done in Python: some thirty lines of bytecode
 * per name, about 2 us for a frame of three ints. This does the same
 * bookkeeping in C and calls back into Python only for what needs it:
 * summarising a value that changed (Summariser.safe_value), deciding whether
 * a name not seen before is a secret (Summariser.is_secret), and module-level
 * frames (the Python method, which hides the module's own names).
 *
 * It must give exactly the snapshots the Python method gives, sharing its
 * per-frame cache (Summariser._frames) and its memo of plain types, so the
 * two can be mixed within one recording: see snapshot.py for the reasons
 * behind each step, which this follows line by line. One difference, on
 * purpose: whether a name still holds the same object is decided by the
 * type object's identity, where Python's tuple comparison would consult a
 * metaclass's __eq__ for two distinct types.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <pythread.h>
#include <stddef.h>

#define FRAME_CACHE_LIMIT 4096

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *summariser;
    PyObject *fallback;   /* the Python frame_locals, bound */
    PyObject *frames;     /* Summariser._frames */
    PyObject *secret;     /* Summariser._secret */
    PyObject *is_secret;  /* Summariser.is_secret, bound */
    PyObject *safe_value; /* Summariser.safe_value, bound */
    PyObject *plain;      /* Summariser._plain_objects */
    PyObject *gettrace;   /* sys.gettrace */
    PyObject *redacted;   /* (TAG_REDACTED,) */
    PyObject *tag_error;  /* TAG_ERROR */
    PyObject *module_name; /* "<module>" */
    PyObject *locals_name; /* "<locals>" */
    PyObject *max_names_attr; /* "max_names", interned */
    PyObject *use_repr_attr;  /* "use_repr", interned */
    PyObject *value;          /* Summariser.value, bound */
    PyObject *type_names;     /* Summariser._type_names */
    PyObject *max_str_attr, *max_items_attr, *max_depth_attr;
    PyObject *dict_tag, *list_tag, *tuple_tag, *obj_tag;
} Sampler;

/* What a sample reads of the summariser once: its limits may be changed between samples. */
typedef struct {
    Py_ssize_t max_names, max_str, max_items, max_depth;
    int use_repr;
} Limits;

static int
is_immutable(PyTypeObject *cls)
{
    return cls == &PyLong_Type || cls == &PyUnicode_Type || cls == &PyFloat_Type || cls == &PyBool_Type ||
           cls == Py_TYPE(Py_None) || cls == &PyBytes_Type;
}

/* (tag_error, type(exc).__name__) for the Exception being raised, which is cleared;
 * NULL (still raised) if it is not an Exception or the pair cannot be made. */
static PyObject *
error_summary(Sampler *self)
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

/* Whether `known[name]` says `value` is the object summarised last time:
 * its identity entry is (type, id) with the same type object and id. */
static int
same_object(PyObject *seen, PyTypeObject *cls, PyObject *value)
{
    if (seen == NULL || !PyTuple_CheckExact(seen) || PyTuple_GET_SIZE(seen) < 2) {
        return 0;
    }
    PyObject *identity = PyTuple_GET_ITEM(seen, 0);
    if (!PyTuple_CheckExact(identity) || PyTuple_GET_SIZE(identity) != 2 ||
        PyTuple_GET_ITEM(identity, 0) != (PyObject *)cls) {
        return 0;
    }
    PyObject *ident = PyTuple_GET_ITEM(identity, 1);
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

static PyObject *
identity_of(PyTypeObject *cls, PyObject *value)
{
    PyObject *ident = PyLong_FromVoidPtr(value);
    if (ident == NULL) {
        return NULL;
    }
    PyObject *identity = PyTuple_Pack(2, (PyObject *)cls, ident);
    Py_DECREF(ident);
    return identity;
}

/* Append (name, summary) to pairs; steals nothing. */
static int
add_pair(PyObject *pairs, PyObject *name, PyObject *summary)
{
    PyObject *pair = PyTuple_Pack(2, name, summary);
    if (pair == NULL) {
        return -1;
    }
    int failed = PyList_Append(pairs, pair);
    Py_DECREF(pair);
    return failed;
}

static PyObject *
attr_int(PyObject *obj, PyObject *name, Py_ssize_t *out)
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

/* A dict or list's first items: NULL with nothing raised means "let Python do the whole container". */
static PyObject *
summarise_dict(Sampler *self, const Limits *limits, PyObject *value, Py_ssize_t depth)
{
    Py_ssize_t length = PyDict_GET_SIZE(value);
    if (depth >= limits->max_depth) {
        return Py_BuildValue("(OnO)", self->dict_tag, length, Py_None);
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
            PyObject *flag = PyDict_GetItemWithError(self->secret, key);
            int secret = flag != NULL ? PyObject_IsTrue(flag) : PyErr_Occurred() ? -1 : 2;
            if (secret == 2) {
                Py_INCREF(key);
                PyObject *answer = PyObject_CallOneArg(self->is_secret, key);
                Py_DECREF(key);
                secret = answer == NULL ? -1 : PyObject_IsTrue(answer);
                Py_XDECREF(answer);
            }
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
    if (items == NULL) {
        return NULL;
    }
    PyObject *summary = Py_BuildValue("(OnN)", self->dict_tag, length, items);
    return summary;
}

static PyObject *
summarise_sequence(Sampler *self, const Limits *limits, PyObject *value, PyObject *tag, Py_ssize_t depth)
{
    Py_ssize_t length = Py_SIZE(value);
    if (depth >= limits->max_depth) {
        return Py_BuildValue("(OnO)", tag, length, Py_None);
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
    return Py_BuildValue("(OnN)", tag, length, items);
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
static PyObject *
safe_summary(Sampler *self, const Limits *limits, PyObject *value)
{
    PyObject *summary = summarise(self, limits, value, 0);
    if (summary == NULL) {
        return error_summary(self);
    }
    return summary;
}

/* The summariser's limits as they are now (a program's tests may change them between samples). */
static int
read_limits(Sampler *self, Limits *limits)
{
    if (attr_int(self->summariser, self->max_names_attr, &limits->max_names) == NULL ||
        attr_int(self->summariser, self->max_str_attr, &limits->max_str) == NULL ||
        attr_int(self->summariser, self->max_items_attr, &limits->max_items) == NULL ||
        attr_int(self->summariser, self->max_depth_attr, &limits->max_depth) == NULL) {
        return -1;
    }
    PyObject *use_repr = PyObject_GetAttr(self->summariser, self->use_repr_attr);
    if (use_repr == NULL) {
        return -1;
    }
    limits->use_repr = PyObject_IsTrue(use_repr);
    Py_DECREF(use_repr);
    return limits->use_repr < 0 ? -1 : 0;
}

/* Summariser.safe_value(value) in C: what every event's data summaries go through. */
static PyObject *
Sampler_summary(PyObject *self, PyObject *value)
{
    Limits limits;
    if (read_limits((Sampler *)self, &limits) < 0) {
        return NULL;
    }
    return safe_summary((Sampler *)self, &limits, value);
}

static PyMethodDef Sampler_methods[] = {
    {"summary", Sampler_summary, METH_O, PyDoc_STR("summary(value): Summariser.safe_value(value), in C where it can.")},
    {NULL, NULL, 0, NULL},
};

/* Store `entry` = (identity, summary, held) for `name` in `known`, unless the same one is there. */
static int
keep(PyObject *known, PyObject *kept, PyObject *name, PyObject *identity, PyObject *summary, PyObject *held)
{
    PyObject *entry = PyTuple_Pack(3, identity, summary, held);
    if (entry == NULL) {
        return -1;
    }
    int failed = PyDict_SetItem(known, name, entry) < 0 || PyList_Append(kept, name) < 0;
    Py_DECREF(entry);
    return failed ? -1 : 0;
}

/* The pair (name, summary): the previous snapshot's own pair at `index` if it is that one. */
static int
add_pair_like(PyObject *pairs, PyObject *before, Py_ssize_t index, PyObject *name, PyObject *summary)
{
    if (before != NULL && index < PyTuple_GET_SIZE(before)) {
        PyObject *pair = PyTuple_GET_ITEM(before, index);
        if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2 && PyTuple_GET_ITEM(pair, 0) == name &&
            PyTuple_GET_ITEM(pair, 1) == summary) {
            return PyList_Append(pairs, pair);
        }
    }
    return add_pair(pairs, name, summary);
}

/* The previous sample of this thread and code: (known, snapshot), its dict
 * updated in place below (the Python method builds a new one: the same
 * content). */
static PyObject *
sample(Sampler *self, PyObject *frame_obj, int calling)
{
    if (!PyFrame_Check(frame_obj)) {
        PyErr_SetString(PyExc_TypeError, "frame_locals() needs a frame");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)frame_obj;
    PyCodeObject *code = PyFrame_GetCode(frame);
    if (PyUnicode_Compare(code->co_name, self->module_name) == 0) {
        /* The module's own names are filtered in Python. */
        Py_DECREF(code);
        return PyObject_CallFunctionObjArgs(self->fallback, frame_obj, calling ? Py_True : Py_False, NULL);
    }
    PyObject *result = NULL, *key = NULL, *namespace = NULL, *items = NULL, *pairs = NULL, *kept = NULL;
    PyObject *previous = NULL, *known = NULL, *before = NULL;
    Limits limits;
    if (read_limits(self, &limits) < 0) {
        goto done;
    }
    int use_repr = limits.use_repr;
    Py_ssize_t max_names = limits.max_names;
    PyObject *thread = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    PyObject *code_id = thread == NULL ? NULL : PyLong_FromVoidPtr(code);
    key = code_id == NULL ? NULL : PyTuple_Pack(2, thread, code_id);
    Py_XDECREF(thread);
    Py_XDECREF(code_id);
    if (key == NULL) {
        goto done;
    }
    previous = PyDict_GetItemWithError(self->frames, key);
    if (previous == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (previous != NULL && PyTuple_CheckExact(previous) && PyTuple_GET_SIZE(previous) == 2 &&
        PyDict_CheckExact(PyTuple_GET_ITEM(previous, 0)) && PyTuple_CheckExact(PyTuple_GET_ITEM(previous, 1))) {
        Py_INCREF(previous);
        known = Py_NewRef(PyTuple_GET_ITEM(previous, 0));
        before = PyTuple_GET_ITEM(previous, 1);
    }
    else {
        previous = NULL;
        known = PyDict_New();
        if (known == NULL) {
            goto done;
        }
    }
    int unchanged = previous != NULL;

    namespace = PyFrame_GetLocals(frame);
    if (namespace != NULL) {
        items = PyDict_CheckExact(namespace) ? PyDict_Items(namespace) : PyMapping_Items(namespace);
    }
    if (items == NULL) {
        PyObject *error = error_summary(self);
        if (error != NULL) {
            PyObject *pair = PyTuple_Pack(2, self->locals_name, error);
            Py_DECREF(error);
            if (pair != NULL) {
                result = PyTuple_Pack(1, pair);
                Py_DECREF(pair);
            }
        }
        goto done;
    }
#if PY_VERSION_HEX < 0x030D0000
    /* See snapshot.py: the dict cached on the frame would keep deleted locals
     * alive; held by the frame and by us alone, and not inside a trace
     * function's callback for this frame, it can be emptied. */
    if ((code->co_flags & CO_OPTIMIZED) && PyDict_CheckExact(namespace) && Py_REFCNT(namespace) == 2) {
        int clear = calling;
        if (!clear) {
            PyObject *trace = PyObject_CallNoArgs(self->gettrace);
            if (trace == NULL) {
                goto done;
            }
            clear = trace == Py_None;
            Py_DECREF(trace);
        }
        if (clear) {
            PyDict_Clear(namespace);
        }
    }
#endif
    Py_CLEAR(namespace);

    pairs = PyList_New(0);
    kept = PyList_New(0);
    if (pairs == NULL || kept == NULL) {
        goto done;
    }
    Py_ssize_t count = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t at = PyList_GET_SIZE(pairs);
        if (at >= max_names) {
            break;
        }
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            continue;
        }
        PyObject *name = PyTuple_GET_ITEM(item, 0);
        PyObject *value = PyTuple_GET_ITEM(item, 1);
        if (!PyUnicode_CheckExact(name)) {
            continue;
        }
        PyTypeObject *cls = Py_TYPE(value);
        int immutable = is_immutable(cls);
        int plain = immutable;
        if (!immutable) {
            int member = PySet_Contains(self->plain, (PyObject *)cls);
            if (member < 0) {
                /* A metaclass __hash__ raised. */
                PyObject *error = error_summary(self);
                if (error == NULL) {
                    goto done;
                }
                unchanged = 0;
                int failed = add_pair(pairs, name, error);
                Py_DECREF(error);
                if (failed) {
                    goto done;
                }
                continue;
            }
            plain = member && !use_repr;
        }
        int secret;
        PyObject *flag = PyDict_GetItemWithError(self->secret, name);
        if (flag != NULL) {
            secret = PyObject_IsTrue(flag);
        }
        else if (PyErr_Occurred()) {
            secret = -1;
        }
        else {
            PyObject *answer = PyObject_CallOneArg(self->is_secret, name);
            secret = answer == NULL ? -1 : PyObject_IsTrue(answer);
            Py_XDECREF(answer);
        }
        if (secret < 0) {
            goto done;
        }
        PyObject *seen = PyDict_GetItemWithError(known, name);
        if (seen == NULL && PyErr_Occurred()) {
            goto done;
        }
        if (secret) {
            if (add_pair_like(pairs, before, at, name, self->redacted) < 0) {
                goto done;
            }
            if (seen == NULL) {
                unchanged = 0;
            }
            else if (PyTuple_CheckExact(seen) && PyTuple_GET_SIZE(seen) == 3 && PyTuple_GET_ITEM(seen, 0) == Py_None &&
                     PyTuple_GET_ITEM(seen, 1) == self->redacted && PyTuple_GET_ITEM(seen, 2) == Py_None) {
                if (PyList_Append(kept, name) < 0) {
                    goto done;
                }
                continue;
            }
            if (keep(known, kept, name, Py_None, self->redacted, Py_None) < 0) {
                goto done;
            }
            continue;
        }
        if (plain) {
            if (same_object(seen, cls, value)) {
                /* Still the very object summarised last time: its entry stands as it is. */
                if (add_pair_like(pairs, before, at, name, PyTuple_GET_ITEM(seen, 1)) < 0 || PyList_Append(kept, name) < 0) {
                    goto done;
                }
                continue;
            }
            unchanged = 0;
            PyObject *summary = safe_summary(self, &limits, value);
            if (summary == NULL) {
                goto done;
            }
            PyObject *identity = identity_of(cls, value);
            int failed = identity == NULL || keep(known, kept, name, identity, summary, immutable ? value : Py_None) < 0 ||
                         add_pair(pairs, name, summary) < 0;
            Py_XDECREF(identity);
            Py_DECREF(summary);
            if (failed) {
                goto done;
            }
            continue;
        }
        /* Containers, a repr, a recorded object's label: can change while the id stays. */
        unchanged = 0;
        PyObject *summary = safe_summary(self, &limits, value);
        if (summary == NULL || add_pair(pairs, name, summary) < 0) {
            Py_XDECREF(summary);
            goto done;
        }
        int member = PySet_Contains(self->plain, (PyObject *)cls);
        int failed = 0;
        if (member < 0) {
            if (PyErr_ExceptionMatches(PyExc_Exception)) {
                PyErr_Clear();
            }
            else {
                failed = 1;
            }
        }
        else if (member && !use_repr) {
            /* Its type was first seen just now: reusable from the next sample on. */
            PyObject *identity = identity_of(cls, value);
            failed = identity == NULL || keep(known, kept, name, identity, summary, Py_None) < 0;
            Py_XDECREF(identity);
        }
        Py_DECREF(summary);
        if (failed) {
            goto done;
        }
    }

    if (PyDict_GET_SIZE(known) > PyList_GET_SIZE(kept)) {
        /* Names gone from the frame, or no longer summarised by identity: drop them. */
        PyObject *fresh = PyDict_New();
        if (fresh == NULL) {
            goto done;
        }
        Py_ssize_t n = PyList_GET_SIZE(kept);
        for (Py_ssize_t j = 0; j < n; j++) {
            PyObject *name = PyList_GET_ITEM(kept, j);
            PyObject *entry = PyDict_GetItemWithError(known, name);
            if (entry == NULL || PyDict_SetItem(fresh, name, entry) < 0) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_RuntimeError, "locals sample lost a name");
                }
                Py_DECREF(fresh);
                goto done;
            }
        }
        Py_SETREF(known, fresh);
    }
    PyObject *snapshot;
    if (unchanged && before != NULL && PyList_GET_SIZE(pairs) == PyTuple_GET_SIZE(before)) {
        snapshot = Py_NewRef(before);
    }
    else {
        snapshot = PyList_AsTuple(pairs);
        if (snapshot == NULL) {
            goto done;
        }
    }
    if (previous == NULL && PyDict_GET_SIZE(self->frames) >= FRAME_CACHE_LIMIT) {
        PyDict_Clear(self->frames);
    }
    if (previous == NULL || PyTuple_GET_ITEM(previous, 0) != known || before != snapshot) {
        PyObject *entry = PyTuple_Pack(2, known, snapshot);
        if (entry == NULL || PyDict_SetItem(self->frames, key, entry) < 0) {
            Py_XDECREF(entry);
            Py_DECREF(snapshot);
            goto done;
        }
        Py_DECREF(entry);
    }
    result = snapshot;

done:
    Py_DECREF(code);
    Py_XDECREF(key);
    Py_XDECREF(previous);
    Py_XDECREF(known);
    Py_XDECREF(namespace);
    Py_XDECREF(items);
    Py_XDECREF(pairs);
    Py_XDECREF(kept);
    return result;
}

static PyObject *
Sampler_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) || nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "frame_locals(frame, calling=False) takes one or two positional arguments");
        return NULL;
    }
    int calling = 0;
    if (nargs == 2) {
        calling = PyObject_IsTrue(args[1]);
        if (calling < 0) {
            return NULL;
        }
    }
    return sample((Sampler *)callable, args[0], calling);
}

static int
Sampler_init(Sampler *self, PyObject *args, PyObject *kwds)
{
    PyObject *summariser, *fallback, *gettrace, *redacted, *tag_error;
    if (!PyArg_ParseTuple(args, "OOOOO:Sampler", &summariser, &fallback, &gettrace, &redacted, &tag_error)) {
        return -1;
    }
    PyObject *frames = PyObject_GetAttrString(summariser, "_frames");
    PyObject *secret = PyObject_GetAttrString(summariser, "_secret");
    PyObject *is_secret = PyObject_GetAttrString(summariser, "is_secret");
    PyObject *safe_value = PyObject_GetAttrString(summariser, "safe_value");
    PyObject *plain = PyObject_GetAttrString(summariser, "_plain_objects");
    PyObject *module_name = PyUnicode_FromString("<module>");
    PyObject *locals_name = PyUnicode_FromString("<locals>");
    PyObject *max_names_attr = PyUnicode_InternFromString("max_names");
    PyObject *use_repr_attr = PyUnicode_InternFromString("use_repr");
    PyObject *value = PyObject_GetAttrString(summariser, "value");
    PyObject *type_names = PyObject_GetAttrString(summariser, "_type_names");
    PyObject *max_str_attr = PyUnicode_InternFromString("max_str");
    PyObject *max_items_attr = PyUnicode_InternFromString("max_items");
    PyObject *max_depth_attr = PyUnicode_InternFromString("max_depth");
    PyObject *dict_tag = PyUnicode_InternFromString("dict");
    PyObject *list_tag = PyUnicode_InternFromString("list");
    PyObject *tuple_tag = PyUnicode_InternFromString("tuple");
    PyObject *obj_tag = PyUnicode_InternFromString("obj");
    if (frames == NULL || secret == NULL || is_secret == NULL || safe_value == NULL || plain == NULL ||
        module_name == NULL || locals_name == NULL || max_names_attr == NULL || use_repr_attr == NULL ||
        value == NULL || type_names == NULL || !PyDict_CheckExact(type_names) || max_str_attr == NULL ||
        max_items_attr == NULL || max_depth_attr == NULL || dict_tag == NULL || list_tag == NULL ||
        tuple_tag == NULL || obj_tag == NULL || !PyDict_CheckExact(frames) || !PyDict_CheckExact(secret) ||
        !PySet_Check(plain)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "Sampler: not a Summariser");
        }
        Py_XDECREF(frames);
        Py_XDECREF(secret);
        Py_XDECREF(is_secret);
        Py_XDECREF(safe_value);
        Py_XDECREF(plain);
        Py_XDECREF(module_name);
        Py_XDECREF(locals_name);
        Py_XDECREF(max_names_attr);
        Py_XDECREF(use_repr_attr);
        Py_XDECREF(value);
        Py_XDECREF(type_names);
        Py_XDECREF(max_str_attr);
        Py_XDECREF(max_items_attr);
        Py_XDECREF(max_depth_attr);
        Py_XDECREF(dict_tag);
        Py_XDECREF(list_tag);
        Py_XDECREF(tuple_tag);
        Py_XDECREF(obj_tag);
        return -1;
    }
    Py_XSETREF(self->summariser, Py_NewRef(summariser));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->gettrace, Py_NewRef(gettrace));
    Py_XSETREF(self->redacted, Py_NewRef(redacted));
    Py_XSETREF(self->tag_error, Py_NewRef(tag_error));
    Py_XSETREF(self->frames, frames);
    Py_XSETREF(self->secret, secret);
    Py_XSETREF(self->is_secret, is_secret);
    Py_XSETREF(self->safe_value, safe_value);
    Py_XSETREF(self->plain, plain);
    Py_XSETREF(self->module_name, module_name);
    Py_XSETREF(self->locals_name, locals_name);
    Py_XSETREF(self->max_names_attr, max_names_attr);
    Py_XSETREF(self->use_repr_attr, use_repr_attr);
    Py_XSETREF(self->value, value);
    Py_XSETREF(self->type_names, type_names);
    Py_XSETREF(self->max_str_attr, max_str_attr);
    Py_XSETREF(self->max_items_attr, max_items_attr);
    Py_XSETREF(self->max_depth_attr, max_depth_attr);
    Py_XSETREF(self->dict_tag, dict_tag);
    Py_XSETREF(self->list_tag, list_tag);
    Py_XSETREF(self->tuple_tag, tuple_tag);
    Py_XSETREF(self->obj_tag, obj_tag);
    self->vectorcall = Sampler_vectorcall;
    return 0;
}

static int
Sampler_traverse(Sampler *self, visitproc visit, void *arg)
{
    Py_VISIT(self->summariser);
    Py_VISIT(self->fallback);
    Py_VISIT(self->frames);
    Py_VISIT(self->secret);
    Py_VISIT(self->is_secret);
    Py_VISIT(self->safe_value);
    Py_VISIT(self->plain);
    Py_VISIT(self->gettrace);
    Py_VISIT(self->redacted);
    Py_VISIT(self->tag_error);
    Py_VISIT(self->value);
    Py_VISIT(self->type_names);
    return 0;
}

static int
Sampler_clear(Sampler *self)
{
    Py_CLEAR(self->summariser);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->frames);
    Py_CLEAR(self->secret);
    Py_CLEAR(self->is_secret);
    Py_CLEAR(self->safe_value);
    Py_CLEAR(self->plain);
    Py_CLEAR(self->gettrace);
    Py_CLEAR(self->redacted);
    Py_CLEAR(self->tag_error);
    Py_CLEAR(self->module_name);
    Py_CLEAR(self->locals_name);
    Py_CLEAR(self->max_names_attr);
    Py_CLEAR(self->use_repr_attr);
    Py_CLEAR(self->value);
    Py_CLEAR(self->type_names);
    Py_CLEAR(self->max_str_attr);
    Py_CLEAR(self->max_items_attr);
    Py_CLEAR(self->max_depth_attr);
    Py_CLEAR(self->dict_tag);
    Py_CLEAR(self->list_tag);
    Py_CLEAR(self->tuple_tag);
    Py_CLEAR(self->obj_tag);
    return 0;
}

static void
Sampler_dealloc(Sampler *self)
{
    PyObject_GC_UnTrack(self);
    Sampler_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject SamplerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.Sampler",
    .tp_doc = PyDoc_STR("Sampler(summariser, fallback, gettrace, redacted, tag_error): frame_locals in C."),
    .tp_basicsize = sizeof(Sampler),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sampler_init,
    .tp_dealloc = (destructor)Sampler_dealloc,
    .tp_traverse = (traverseproc)Sampler_traverse,
    .tp_clear = (inquiry)Sampler_clear,
    .tp_vectorcall_offset = offsetof(Sampler, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_methods = Sampler_methods,
};


/* ---- Code events: CodeEvents.enter and .leave in C ------------------------------------------
 *
 * At level calls and lines every call and return of user code goes through
 * CodeEvents.enter / .leave (code_events.py), which the tracers call from
 * their callbacks: a few Python frames per call, most of what the level
 * costs once the event itself is cheap. These do the same steps on the same
 * dicts (frames, parameters), so the Python methods that deal with lines and
 * exceptions read what these write.
 */
typedef struct {
    PyObject_HEAD
    Sampler *sampler;
    PyObject *frames;     /* CodeEvents.frames: id(frame) -> [frame id, last line, known] */
    PyObject *parameters; /* CodeEvents._parameters: id(code) -> names */
    PyObject *parameters_of; /* code_events._parameters(code) */
    PyObject *next_frame; /* CodeEvents._next_frame */
    PyObject *lines_in;   /* CodeEvents.lines_in, bound */
    PyObject *emit;       /* CodeEvents.emit (the recorder's emit_code) */
    PyObject *call_kind, *return_kind; /* ints */
    PyObject *not_held, *nothing;
    PyObject *s_call, *s_resume, *s_return, *s_yield;
    PyObject *rec;        /* CodeEvents.rec: its `dropped` counts what the callbacks could not record */
    PyObject *traced;     /* CodeEvents.traced: id(code) -> user code? */
    PyObject *local;      /* the tracer's id(code) -> local events switched on (use_start) */
    PyObject *start_fallback; /* the tracer's Python PY_START callback (use_start) */
} FrameEvents;

static int
line_of(PyFrameObject *frame, PyCodeObject *code)
{
    int line = PyFrame_GetLineNumber(frame);
    return line > 0 ? line : code->co_firstlineno;
}

static PyObject *
emit_code(FrameEvents *self, PyObject *kind, PyObject *data, PyCodeObject *code, int line)
{
    PyObject *lineno = PyLong_FromLong(line);
    if (lineno == NULL) {
        return NULL;
    }
    PyObject *args[4] = {kind, data, (PyObject *)code, lineno};
    PyObject *result = PyObject_Vectorcall(self->emit, args, 4, NULL);
    Py_DECREF(lineno);
    return result;
}

/* CodeEvents._arguments: (name, summary) for each parameter bound, secrets redacted; at level lines also `known`. */
static PyObject *
arguments(FrameEvents *self, PyFrameObject *frame, PyObject *names, PyObject *known)
{
    Sampler *sampler = self->sampler;
    Limits limits;
    if (read_limits(sampler, &limits) < 0) {
        return NULL;
    }
    PyObject *local = PyFrame_GetLocals(frame);
    PyObject *pairs = local == NULL ? NULL : PyList_New(0);
    if (pairs == NULL) {
        goto failed;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *value;
        if (PyDict_CheckExact(local)) {
            value = PyDict_GetItemWithError(local, name);
            Py_XINCREF(value);
        }
        else {
            value = PyObject_GetItem(local, name);
            if (value == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
                PyErr_Clear();
            }
        }
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto failed;
            }
            continue;
        }
        int secret;
        PyObject *flag = PyDict_GetItemWithError(sampler->secret, name);
        if (flag != NULL) {
            secret = PyObject_IsTrue(flag);
        }
        else if (PyErr_Occurred()) {
            secret = -1;
        }
        else {
            PyObject *answer = PyObject_CallOneArg(sampler->is_secret, name);
            secret = answer == NULL ? -1 : PyObject_IsTrue(answer);
            Py_XDECREF(answer);
        }
        PyObject *summary = secret < 0 ? NULL : secret ? Py_NewRef(sampler->redacted) : safe_summary(sampler, &limits, value);
        if (summary == NULL) {
            Py_DECREF(value);
            goto failed;
        }
        int bad = 0;
        if (known != Py_None) {
            PyObject *ident = PyLong_FromVoidPtr(value);
            PyObject *entry = ident == NULL ? NULL
                                            : PyTuple_Pack(4, summary == value ? value : self->not_held,
                                                           (PyObject *)Py_TYPE(value), ident, summary);
            Py_XDECREF(ident);
            bad = entry == NULL || PyDict_SetItem(known, name, entry) < 0;
            Py_XDECREF(entry);
        }
        bad = bad || add_pair(pairs, name, summary) < 0;
        Py_DECREF(summary);
        Py_DECREF(value);
        if (bad) {
            goto failed;
        }
    }
    Py_DECREF(local);
    PyObject *result = PyList_AsTuple(pairs);
    Py_DECREF(pairs);
    return result;

failed:
    Py_XDECREF(local);
    Py_XDECREF(pairs);
    {
        PyObject *error = error_summary(sampler);
        if (error == NULL) {
            return NULL;
        }
        PyObject *pair = PyTuple_Pack(2, sampler->locals_name, error);
        Py_DECREF(error);
        if (pair == NULL) {
            return NULL;
        }
        PyObject *result = PyTuple_Pack(1, pair);
        Py_DECREF(pair);
        return result;
    }
}

/* A new record [frame id, None, {} or None] for `frame`, in frames; returns it (borrowed from frames). */
static PyObject *
new_record(FrameEvents *self, PyObject *key, PyCodeObject *code)
{
    PyObject *fid = PyObject_CallNoArgs(self->next_frame);
    if (fid == NULL) {
        return NULL;
    }
    PyObject *lines = PyObject_CallOneArg(self->lines_in, (PyObject *)code);
    int with_lines = lines == NULL ? -1 : PyObject_IsTrue(lines);
    Py_XDECREF(lines);
    PyObject *known = with_lines < 0 ? NULL : with_lines ? PyDict_New() : Py_NewRef(Py_None);
    PyObject *record = known == NULL ? NULL : PyList_New(3);
    if (record == NULL) {
        Py_DECREF(fid);
        Py_XDECREF(known);
        return NULL;
    }
    PyList_SET_ITEM(record, 0, fid);
    PyList_SET_ITEM(record, 1, Py_NewRef(Py_None));
    PyList_SET_ITEM(record, 2, known);
    int failed = PyDict_SetItem(self->frames, key, record);
    Py_DECREF(record);
    return failed ? NULL : record;
}

static PyObject *
FrameEvents_enter(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    FrameEvents *self = (FrameEvents *)op;
    if (nargs != 2 || !PyFrame_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "enter(frame, resumed)");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)args[0];
    int resumed = PyObject_IsTrue(args[1]);
    if (resumed < 0) {
        return NULL;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *key = PyLong_FromVoidPtr(frame);
    PyObject *result = NULL, *data = NULL;
    if (key == NULL) {
        goto done;
    }
    if (resumed) {
        PyObject *record = PyDict_GetItemWithError(self->frames, key);
        if (record == NULL) {
            if (PyErr_Occurred() || (record = new_record(self, key, code)) == NULL) {
                goto done;
            }
        }
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) < 1) {
            PyErr_SetString(PyExc_TypeError, "malformed frame record");
            goto done;
        }
        data = PyTuple_Pack(3, PyList_GET_ITEM(record, 0), self->s_resume, Py_None);
        if (data != NULL) {
            result = emit_code(self, self->call_kind, data, code, line_of(frame, code));
        }
        goto done;
    }
    PyObject *record = new_record(self, key, code);
    if (record == NULL) {
        goto done;
    }
    PyObject *code_id = PyLong_FromVoidPtr(code);
    if (code_id == NULL) {
        goto done;
    }
    PyObject *names = PyDict_GetItemWithError(self->parameters, code_id);
    if (names == NULL && !PyErr_Occurred()) {
        names = PyObject_CallOneArg(self->parameters_of, (PyObject *)code);
        if (names != NULL && PyDict_SetItem(self->parameters, code_id, names) < 0) {
            Py_CLEAR(names);
        }
        Py_XDECREF(names); /* held by the dict now */
    }
    Py_DECREF(code_id);
    if (names == NULL) {
        goto done;
    }
    PyObject *pairs = PyTuple_CheckExact(names) && PyTuple_GET_SIZE(names) > 0
                          ? arguments(self, frame, names, PyList_GET_ITEM(record, 2))
                          : Py_NewRef(self->nothing);
    if (pairs == NULL) {
        goto done;
    }
    data = Py_BuildValue("(OON)", PyList_GET_ITEM(record, 0), self->s_call, pairs);
    if (data != NULL) {
        result = emit_code(self, self->call_kind, data, code, code->co_firstlineno);
    }

done:
    Py_DECREF(code);
    Py_XDECREF(key);
    Py_XDECREF(data);
    return result;
}

static PyObject *
FrameEvents_leave(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    FrameEvents *self = (FrameEvents *)op;
    if (nargs != 3 || !PyFrame_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "leave(frame, value, yielded)");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)args[0];
    int yielded = PyObject_IsTrue(args[2]);
    if (yielded < 0) {
        return NULL;
    }
    PyObject *key = PyLong_FromVoidPtr(frame);
    if (key == NULL) {
        return NULL;
    }
    PyObject *record;
    if (yielded) {
        record = PyDict_GetItemWithError(self->frames, key);
        Py_XINCREF(record);
    }
    else {
        /* frames.pop(id(frame), None) (PyDict_Pop is 3.13+) */
        record = PyDict_GetItemWithError(self->frames, key);
        if (record != NULL) {
            Py_INCREF(record);
            if (PyDict_DelItem(self->frames, key) < 0) {
                Py_CLEAR(record);
            }
        }
    }
    Py_DECREF(key);
    if (record == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *result = NULL;
    if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) < 1) {
        PyErr_SetString(PyExc_TypeError, "malformed frame record");
        Py_DECREF(record);
        return NULL;
    }
    Limits limits;
    PyObject *summary = read_limits(self->sampler, &limits) < 0 ? NULL : safe_summary(self->sampler, &limits, args[1]);
    PyObject *data = summary == NULL ? NULL
                                     : PyTuple_Pack(3, PyList_GET_ITEM(record, 0), yielded ? self->s_yield : self->s_return, summary);
    Py_XDECREF(summary);
    Py_DECREF(record);
    if (data != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        result = emit_code(self, self->return_kind, data, code, line_of(frame, code));
        Py_DECREF(code);
        Py_DECREF(data);
    }
    return result;
}


/* sys.monitoring's PY_RETURN / PY_YIELD / PY_RESUME callbacks themselves (tracer_monitoring):
 * the monitored frame is the current one, and no exception may leave a callback
 * (sys.monitoring would raise it in the program): an Exception counts as a
 * dropped event on the recorder, as in the Python callbacks. */
static PyObject *
dropped(FrameEvents *self)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL;
    }
    PyErr_Clear();
    PyObject *count = PyObject_GetAttrString(self->rec, "dropped");
    PyObject *one = PyLong_FromLong(1);
    PyObject *more = count == NULL || one == NULL ? NULL : PyNumber_Add(count, one);
    Py_XDECREF(one);
    Py_XDECREF(count);
    if (more == NULL || PyObject_SetAttrString(self->rec, "dropped", more) < 0) {
        Py_XDECREF(more);
        PyErr_Clear();
        return Py_NewRef(Py_None);
    }
    Py_DECREF(more);
    return Py_NewRef(Py_None);
}

static PyObject *
on_leave(FrameEvents *self, PyObject *const *args, Py_ssize_t nargs, PyObject *yielded)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "callback(code, offset, value)");
        return NULL;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *call[3] = {(PyObject *)frame, args[2], yielded};
    PyObject *result = FrameEvents_leave((PyObject *)self, call, 3);
    if (result == NULL) {
        return dropped(self);
    }
    Py_DECREF(result);
    return Py_NewRef(Py_None);
}

static PyObject *
FrameEvents_on_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return on_leave((FrameEvents *)self, args, nargs, Py_False);
}

static PyObject *
FrameEvents_on_yield(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return on_leave((FrameEvents *)self, args, nargs, Py_True);
}

static PyObject *
FrameEvents_on_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "callback(code, offset)");
        return NULL;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *call[2] = {(PyObject *)frame, Py_True};
    PyObject *result = FrameEvents_enter(self, call, 2);
    if (result == NULL) {
        return dropped((FrameEvents *)self);
    }
    Py_DECREF(result);
    return Py_NewRef(Py_None);
}


/* PY_START: the code is known to be user code and its local events are on (the common case):
 * record the call; anything else is the Python callback's to decide. */
static PyObject *
FrameEvents_on_start(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    FrameEvents *self = (FrameEvents *)op;
    if (self->start_fallback == NULL || nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "on_start(code, offset) before use_start()");
        return NULL;
    }
    PyObject *code_id = PyLong_FromVoidPtr(args[0]);
    if (code_id == NULL) {
        return dropped(self);
    }
    PyObject *known = PyDict_GetItemWithError(self->traced, code_id);
    int enabled = known == Py_True ? PyDict_Contains(self->local, code_id) : 0;
    Py_DECREF(code_id);
    if (enabled <= 0) {
        if (enabled < 0 || PyErr_Occurred()) {
            return dropped(self);
        }
        return PyObject_Vectorcall(self->start_fallback, args, nargs, NULL);
    }
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *call[2] = {(PyObject *)frame, Py_False};
    PyObject *result = FrameEvents_enter(op, call, 2);
    if (result == NULL) {
        return dropped(self);
    }
    Py_DECREF(result);
    return Py_NewRef(Py_None);
}

static PyObject *
FrameEvents_use_start(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    FrameEvents *self = (FrameEvents *)op;
    if (nargs != 2 || !PyDict_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "use_start(local: dict, fallback)");
        return NULL;
    }
    Py_XSETREF(self->local, Py_NewRef(args[0]));
    Py_XSETREF(self->start_fallback, Py_NewRef(args[1]));
    return Py_NewRef(Py_None);
}

static int
FrameEvents_init(FrameEvents *self, PyObject *args, PyObject *kwds)
{
    PyObject *events, *sampler, *parameters_of, *call_kind, *return_kind, *not_held, *nothing;
    if (!PyArg_ParseTuple(args, "OO!OOOOO:FrameEvents", &events, &SamplerType, &sampler, &parameters_of, &call_kind,
                          &return_kind, &not_held, &nothing)) {
        return -1;
    }
    PyObject *frames = PyObject_GetAttrString(events, "frames");
    PyObject *parameters = PyObject_GetAttrString(events, "_parameters");
    PyObject *next_frame = PyObject_GetAttrString(events, "_next_frame");
    PyObject *lines_in = PyObject_GetAttrString(events, "lines_in");
    PyObject *emit = PyObject_GetAttrString(events, "emit");
    PyObject *rec = PyObject_GetAttrString(events, "rec");
    PyObject *traced = PyObject_GetAttrString(events, "traced");
    PyObject *s_call = PyUnicode_InternFromString("call");
    PyObject *s_resume = PyUnicode_InternFromString("resume");
    PyObject *s_return = PyUnicode_InternFromString("return");
    PyObject *s_yield = PyUnicode_InternFromString("yield");
    if (frames == NULL || parameters == NULL || next_frame == NULL || lines_in == NULL || emit == NULL || rec == NULL || traced == NULL || !PyDict_CheckExact(traced) ||
        s_call == NULL || s_resume == NULL || s_return == NULL || s_yield == NULL || !PyDict_CheckExact(frames) ||
        !PyDict_CheckExact(parameters)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "FrameEvents: not a CodeEvents");
        }
        Py_XDECREF(frames);
        Py_XDECREF(parameters);
        Py_XDECREF(next_frame);
        Py_XDECREF(lines_in);
        Py_XDECREF(emit);
        Py_XDECREF(rec);
        Py_XDECREF(traced);
        Py_XDECREF(s_call);
        Py_XDECREF(s_resume);
        Py_XDECREF(s_return);
        Py_XDECREF(s_yield);
        return -1;
    }
    Py_XSETREF(self->sampler, (Sampler *)Py_NewRef(sampler));
    Py_XSETREF(self->frames, frames);
    Py_XSETREF(self->parameters, parameters);
    Py_XSETREF(self->parameters_of, Py_NewRef(parameters_of));
    Py_XSETREF(self->next_frame, next_frame);
    Py_XSETREF(self->lines_in, lines_in);
    Py_XSETREF(self->emit, emit);
    Py_XSETREF(self->rec, rec);
    Py_XSETREF(self->traced, traced);
    Py_XSETREF(self->call_kind, Py_NewRef(call_kind));
    Py_XSETREF(self->return_kind, Py_NewRef(return_kind));
    Py_XSETREF(self->not_held, Py_NewRef(not_held));
    Py_XSETREF(self->nothing, Py_NewRef(nothing));
    Py_XSETREF(self->s_call, s_call);
    Py_XSETREF(self->s_resume, s_resume);
    Py_XSETREF(self->s_return, s_return);
    Py_XSETREF(self->s_yield, s_yield);
    return 0;
}

static int
FrameEvents_traverse(FrameEvents *self, visitproc visit, void *arg)
{
    Py_VISIT(self->sampler);
    Py_VISIT(self->frames);
    Py_VISIT(self->parameters);
    Py_VISIT(self->parameters_of);
    Py_VISIT(self->next_frame);
    Py_VISIT(self->lines_in);
    Py_VISIT(self->emit);
    Py_VISIT(self->not_held);
    Py_VISIT(self->rec);
    Py_VISIT(self->traced);
    Py_VISIT(self->local);
    Py_VISIT(self->start_fallback);
    return 0;
}

static int
FrameEvents_clear(FrameEvents *self)
{
    Py_CLEAR(self->sampler);
    Py_CLEAR(self->frames);
    Py_CLEAR(self->parameters);
    Py_CLEAR(self->parameters_of);
    Py_CLEAR(self->next_frame);
    Py_CLEAR(self->lines_in);
    Py_CLEAR(self->emit);
    Py_CLEAR(self->call_kind);
    Py_CLEAR(self->return_kind);
    Py_CLEAR(self->not_held);
    Py_CLEAR(self->nothing);
    Py_CLEAR(self->s_call);
    Py_CLEAR(self->s_resume);
    Py_CLEAR(self->s_return);
    Py_CLEAR(self->s_yield);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->traced);
    Py_CLEAR(self->local);
    Py_CLEAR(self->start_fallback);
    return 0;
}

static void
FrameEvents_dealloc(FrameEvents *self)
{
    PyObject_GC_UnTrack(self);
    FrameEvents_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef FrameEvents_methods[] = {
    {"enter", (PyCFunction)(void (*)(void))FrameEvents_enter, METH_FASTCALL, PyDoc_STR("enter(frame, resumed): CodeEvents.enter")},
    {"leave", (PyCFunction)(void (*)(void))FrameEvents_leave, METH_FASTCALL, PyDoc_STR("leave(frame, value, yielded): CodeEvents.leave")},
    {"on_return", (PyCFunction)(void (*)(void))FrameEvents_on_return, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_RETURN callback")},
    {"on_yield", (PyCFunction)(void (*)(void))FrameEvents_on_yield, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_YIELD callback")},
    {"on_resume", (PyCFunction)(void (*)(void))FrameEvents_on_resume, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_RESUME callback")},
    {"on_start", (PyCFunction)(void (*)(void))FrameEvents_on_start, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_START callback (after use_start)")},
    {"use_start", (PyCFunction)(void (*)(void))FrameEvents_use_start, METH_FASTCALL, PyDoc_STR("use_start(local, fallback)")},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FrameEventsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.FrameEvents",
    .tp_doc = PyDoc_STR("FrameEvents(events, sampler, parameters_of, call, return, not_held, nothing)."),
    .tp_basicsize = sizeof(FrameEvents),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FrameEvents_init,
    .tp_dealloc = (destructor)FrameEvents_dealloc,
    .tp_traverse = (traverseproc)FrameEvents_traverse,
    .tp_clear = (inquiry)FrameEvents_clear,
    .tp_methods = FrameEvents_methods,
};

static struct PyModuleDef sampler_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronodbg.recorder._sampler",
    .m_doc = "The recorder's locals sampler in C (see snapshot.py for the Python original).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__sampler(void)
{
    if (PyType_Ready(&SamplerType) < 0 || PyType_Ready(&FrameEventsType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&sampler_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Sampler", (PyObject *)&SamplerType) < 0 ||
        PyModule_AddObjectRef(module, "FrameEvents", (PyObject *)&FrameEventsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
