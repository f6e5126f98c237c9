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
#include "_sampler.h"

/* Summariser.safe_value(value) in C: what every event's data summaries go through. */
static PyObject *
Sampler_summary(PyObject *self, PyObject *value)
{
    Limits limits;
    if (cgr_read_limits((Sampler *)self, &limits) < 0) {
        return NULL;
    }
    return cgr_safe_summary((Sampler *)self, &limits, value);
}

/* The summariser's limits changed: read them again at the next sample. */
static PyObject *
Sampler_forget_limits(PyObject *self, PyObject *unused)
{
    ((Sampler *)self)->limits_known = 0;
    Py_RETURN_NONE;
}

static PyMethodDef Sampler_methods[] = {
    {"forget_limits", Sampler_forget_limits, METH_NOARGS, PyDoc_STR("forget_limits(): read the summariser's limits again.")},
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
    return cgr_add_pair(pairs, name, summary);
}

/* Whether `known[name]` is an entry compared by value for a `cls` value: its key is the 1-tuple (cls,). */
static int
by_value_entry(PyObject *seen, PyTypeObject *cls)
{
    if (seen == NULL || !PyTuple_CheckExact(seen) || PyTuple_GET_SIZE(seen) != 3) {
        return 0;
    }
    PyObject *key = PyTuple_GET_ITEM(seen, 0);
    return PyTuple_CheckExact(key) && PyTuple_GET_SIZE(key) == 1 && PyTuple_GET_ITEM(key, 0) == (PyObject *)cls;
}

/* A dict's version tag: a new, interpreter-wide unique number at each change of
 * any dict, through 3.13 (3.14 keeps no such number; there every summary is
 * made again and compared, as the Python method does). */
#if PY_VERSION_HEX < 0x030E0000
#define CGR_DICT_VERSIONS 1
static uint64_t
dict_version(PyObject *dict)
{
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    return ((PyDictObject *)dict)->ma_version_tag;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#endif

/* Whether every item of a dict's summary is an atomic value (no container and
 * no object whose summary could change while the dict itself does not). */
static int
atomic_dict_summary(PyObject *summary)
{
    if (!PyTuple_CheckExact(summary) || PyTuple_GET_SIZE(summary) != 3) {
        return 0;
    }
    PyObject *items = PyTuple_GET_ITEM(summary, 2);
    if (items == Py_None) {
        return 1;
    }
    if (!PyTuple_CheckExact(items)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *pair = PyTuple_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !cgr_is_immutable(Py_TYPE(PyTuple_GET_ITEM(pair, 0))) || !cgr_is_immutable(Py_TYPE(PyTuple_GET_ITEM(pair, 1)))) {
            return 0;
        }
    }
    return 1;
}

/* What a by-value entry holds: for a dict whose summary holds atomic values
 * only, (id, version), by which the next sample knows it unchanged without
 * summarising it; Py_None otherwise. A new reference; NULL on error. */
static PyObject *
dict_stamp(PyObject *value, PyObject *summary)
{
#ifdef CGR_DICT_VERSIONS
    if (PyDict_CheckExact(value) && atomic_dict_summary(summary)) {
        PyObject *ident = PyLong_FromVoidPtr(value);
        PyObject *version = ident == NULL ? NULL : PyLong_FromUnsignedLongLong(dict_version(value));
        PyObject *stamp = version == NULL ? NULL : PyTuple_Pack(2, ident, version);
        Py_XDECREF(ident);
        Py_XDECREF(version);
        return stamp;
    }
#endif
    return Py_NewRef(Py_None);
}

/* Whether a by-value entry's stamp says `value` is the dict it summarised, unchanged since. */
static int
dict_unchanged(PyObject *seen, PyObject *value)
{
#ifdef CGR_DICT_VERSIONS
    PyObject *stamp = PyTuple_GET_ITEM(seen, 2);
    if (!PyDict_CheckExact(value) || !PyTuple_CheckExact(stamp) || PyTuple_GET_SIZE(stamp) != 2) {
        return 0;
    }
    PyObject *ident = PyTuple_GET_ITEM(stamp, 0), *version = PyTuple_GET_ITEM(stamp, 1);
    if (!PyLong_CheckExact(ident) || !PyLong_CheckExact(version)) {
        return 0;
    }
    void *address = PyLong_AsVoidPtr(ident);
    unsigned long long tag = address == NULL ? 0 : PyLong_AsUnsignedLongLong(version);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return address == (void *)value && tag == dict_version(value);
#else
    return 0;
#endif
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
    PyObject *previous = NULL, *known = NULL, *before = NULL, *prior = NULL;
    Limits limits;
    if (cgr_read_limits(self, &limits) < 0) {
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
        PyObject *error = cgr_error_summary(self);
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
        int immutable = cgr_is_immutable(cls);
        int plain = immutable;
        if (!immutable) {
            int member = PySet_Contains(self->plain, (PyObject *)cls);
            if (member < 0) {
                /* A metaclass __hash__ raised. */
                PyObject *error = cgr_error_summary(self);
                if (error == NULL) {
                    goto done;
                }
                unchanged = 0;
                int failed = cgr_add_pair(pairs, name, error);
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
            if (cgr_same_object(seen, cls, value)) {
                /* Still the very object summarised last time: its entry stands as it is. */
                if (add_pair_like(pairs, before, at, name, PyTuple_GET_ITEM(seen, 1)) < 0 || PyList_Append(kept, name) < 0) {
                    goto done;
                }
                continue;
            }
            unchanged = 0;
            PyObject *summary = cgr_safe_summary(self, &limits, value);
            if (summary == NULL) {
                goto done;
            }
            PyObject *identity = cgr_identity_of(cls, value);
            int failed = identity == NULL || keep(known, kept, name, identity, summary, immutable ? value : Py_None) < 0 ||
                         cgr_add_pair(pairs, name, summary) < 0;
            Py_XDECREF(identity);
            Py_DECREF(summary);
            if (failed) {
                goto done;
            }
            continue;
        }
        /* Containers' contents or a repr can change while the id stays; a
         * recorded object's label cannot while its key stays. */
        int same = cgr_same_recorded(self, seen, cls, value);
        if (same < 0) {
            goto done;
        }
        if (same) {
            /* Its entry stands as it is. */
            if (add_pair_like(pairs, before, at, name, PyTuple_GET_ITEM(seen, 1)) < 0 || PyList_Append(kept, name) < 0) {
                goto done;
            }
            continue;
        }
        int by_value = by_value_entry(seen, cls);
        /* Held: summarising can run Python code, which may sample this frame's code again. */
        Py_XSETREF(prior, by_value ? Py_NewRef(seen) : NULL);
        if (by_value && dict_unchanged(prior, value)) {
            /* The dict has not changed since its summary was made. */
            if (add_pair_like(pairs, before, at, name, PyTuple_GET_ITEM(prior, 1)) < 0 || PyList_Append(kept, name) < 0) {
                goto done;
            }
            continue;
        }
        PyObject *summary = cgr_safe_summary(self, &limits, value);
        if (summary == NULL) {
            goto done;
        }
        if (by_value) {
            int same_summary = cgr_same_summary(PyTuple_GET_ITEM(prior, 1), summary);
            if (same_summary < 0) {
                Py_DECREF(summary);
                goto done;
            }
            if (same_summary) {
                /* Compared by value: summarised as before, it keeps its entry's summary. */
                PyObject *stamp = dict_stamp(value, summary);
                int failed = stamp == NULL || add_pair_like(pairs, before, at, name, PyTuple_GET_ITEM(prior, 1)) < 0 ||
                             keep(known, kept, name, PyTuple_GET_ITEM(prior, 0), PyTuple_GET_ITEM(prior, 1), stamp) < 0;
                Py_XDECREF(stamp);
                Py_DECREF(summary);
                if (failed) {
                    goto done;
                }
                continue;
            }
        }
        unchanged = 0;
        if (cgr_add_pair(pairs, name, summary) < 0) {
            Py_DECREF(summary);
            goto done;
        }
        PyObject *recorded = cgr_recorded_key(self, cls, value);
        if (recorded == NULL || (recorded != Py_None && keep(known, kept, name, recorded, summary, Py_None) < 0)) {
            Py_XDECREF(recorded);
            Py_DECREF(summary);
            goto done;
        }
        if (recorded != Py_None) {
            Py_DECREF(recorded);
            Py_DECREF(summary);
            continue;
        }
        Py_DECREF(recorded);
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
        if (!failed && member > 0 && !use_repr) {
            /* Its type was first seen just now: reusable from the next sample on. */
            PyObject *identity = cgr_identity_of(cls, value);
            failed = identity == NULL || keep(known, kept, name, identity, summary, Py_None) < 0;
            Py_XDECREF(identity);
        }
        else if (!failed) {
            /* Compared by value at the next sample (the key is a 1-tuple, see snapshot.py). */
            PyObject *by = by_value ? Py_NewRef(PyTuple_GET_ITEM(prior, 0)) : PyTuple_Pack(1, (PyObject *)cls);
            PyObject *stamp = by == NULL ? NULL : dict_stamp(value, summary);
            failed = stamp == NULL || keep(known, kept, name, by, summary, stamp) < 0;
            Py_XDECREF(by);
            Py_XDECREF(stamp);
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
    Py_XDECREF(prior);
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
    PyObject *recorded = PyObject_GetAttrString(summariser, "_recorded");
    PyObject *recorded_key = PyObject_GetAttrString(summariser, "recorded_key");
    if (frames == NULL || secret == NULL || is_secret == NULL || plain == NULL ||
        module_name == NULL || locals_name == NULL || max_names_attr == NULL || use_repr_attr == NULL ||
        value == NULL || type_names == NULL || !PyDict_CheckExact(type_names) || max_str_attr == NULL ||
        max_items_attr == NULL || max_depth_attr == NULL || dict_tag == NULL || list_tag == NULL ||
        tuple_tag == NULL || obj_tag == NULL || !PyDict_CheckExact(frames) || !PyDict_CheckExact(secret) ||
        !PySet_Check(plain) || recorded == NULL || !PyDict_CheckExact(recorded) || recorded_key == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "Sampler: not a Summariser");
        }
        Py_XDECREF(frames);
        Py_XDECREF(secret);
        Py_XDECREF(is_secret);
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
        Py_XDECREF(recorded);
        Py_XDECREF(recorded_key);
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
    Py_XSETREF(self->recorded, recorded);
    Py_XSETREF(self->recorded_key, recorded_key);
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
    Py_VISIT(self->plain);
    Py_VISIT(self->gettrace);
    Py_VISIT(self->redacted);
    Py_VISIT(self->tag_error);
    Py_VISIT(self->value);
    Py_VISIT(self->type_names);
    Py_VISIT(self->recorded);
    Py_VISIT(self->recorded_key);
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
    Py_CLEAR(self->recorded);
    Py_CLEAR(self->recorded_key);
    return 0;
}

static void
Sampler_dealloc(Sampler *self)
{
    PyObject_GC_UnTrack(self);
    Sampler_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject cgr_SamplerType = {
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


static struct PyModuleDef sampler_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronodbg.recorder._sampler",
    .m_doc = "The recorder's locals sampler in C (see snapshot.py for the Python original).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__sampler(void)
{
    if (PyType_Ready(&cgr_SamplerType) < 0 || PyType_Ready(&cgr_FrameEventsType) < 0 || cgr_recorded_init() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&sampler_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Sampler", (PyObject *)&cgr_SamplerType) < 0 ||
        PyModule_AddObjectRef(module, "FrameEvents", (PyObject *)&cgr_FrameEventsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

