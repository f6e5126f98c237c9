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
 * It must give exactly the snapshots the Python method gives, and hand out
 * the very same snapshot tuple where that does (an unchanged frame): see
 * snapshot.py for the reasons behind each step. It keeps its memory of the
 * last sample in the same dict (Summariser._frames, so that setting a limit
 * clears both) under keys of its own, laid out by position rather than by
 * name (below): an unchanged name costs a few pointer comparisons, no dict
 * lookup. It shares the memo of plain types. One difference, on purpose:
 * whether a name still holds the same object is decided by the type
 * object's identity, where Python's tuple comparison would consult a
 * metaclass's __eq__ for two distinct types.
 */
#include "_dict_version.h"
#include "_frame_events.h"

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

/*
 * What the last sample of a (thread, code) left, C's own entry in
 * Summariser._frames (the Python method's entries have tuple keys, these an
 * int: the two never meet, as the Python method only samples module frames
 * here): (snapshot, helds, code id, thread id). `helds[i]` says how the value
 * behind `snapshot[i]` is known again without summarising it:
 *   - the summariser's REDACTED marker: a secret name (its value never read);
 *   - anything but a tuple: an immutable scalar, held so that its id stays
 *     its own, still the same if it is the very same object;
 *   - (type, id): a plain object, summarised by type and id alone;
 *   - (type, id, object id): a recorded object, summarised as its label;
 *   - (type, id or None, dict version or None, None): a container (or, with
 *     --repr, an object), summarised again and compared by value, unless it
 *     is a dict whose version tag says it has not changed;
 *   - (): a value whose type could not be looked up; never the same.
 * A name is looked for at its place in the last snapshot, then among the
 * others: locals keep their order, so nearly every name is found at once
 * and an unchanged one costs a few pointer comparisons.
 */

#ifdef CGR_DICT_VERSIONS
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
#endif

/* The held of a value compared by value: with, for a dict of atomic values,
 * its id and version, by which the next sample knows it unchanged. */
static PyObject *
by_value_held(PyTypeObject *cls, PyObject *value, PyObject *summary)
{
#ifdef CGR_DICT_VERSIONS
    if (PyDict_CheckExact(value) && atomic_dict_summary(summary)) {
        PyObject *ident = PyLong_FromVoidPtr(value);
        PyObject *version = ident == NULL ? NULL : PyLong_FromUnsignedLongLong(dict_version(value));
        PyObject *held = version == NULL ? NULL : PyTuple_Pack(4, (PyObject *)cls, ident, version, Py_None);
        Py_XDECREF(ident);
        Py_XDECREF(version);
        return held;
    }
#endif
    return PyTuple_Pack(4, (PyObject *)cls, Py_None, Py_None, Py_None);
}

/* The items of a container's summary (tag, length, items) when its length is
 * still `size` and it shows as many items as a summary made now would show;
 * NULL otherwise (nothing raised). */
static PyObject *
shown_items(PyObject *summary, Py_ssize_t size, Py_ssize_t max_items)
{
    if (!PyTuple_CheckExact(summary) || PyTuple_GET_SIZE(summary) != 3) {
        return NULL;
    }
    PyObject *length = PyTuple_GET_ITEM(summary, 1), *items = PyTuple_GET_ITEM(summary, 2);
    if (!PyLong_CheckExact(length) || PyLong_AsSsize_t(length) != size || !PyTuple_CheckExact(items)) {
        PyErr_Clear();
        return NULL;
    }
    return PyTuple_GET_SIZE(items) == (size < max_items ? size : max_items) ? items : NULL;
}

/* Whether a list or tuple still holds, at each place its summary shows, the very
 * object summarised there, an atomic value that is its own summary: then its
 * summary would be made again the same (a quick yes; a no summarises it). */
static int
same_sequence(PyObject *value, PyObject *summary, Py_ssize_t max_items)
{
    PyObject *items = shown_items(summary, Py_SIZE(value), max_items);
    if (items == NULL) {
        return 0;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(items);
    PyObject **held = PyList_CheckExact(value) ? ((PyListObject *)value)->ob_item : ((PyTupleObject *)value)->ob_item;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        if (held[i] != item || !cgr_is_immutable(Py_TYPE(item))) {
            return 0;
        }
    }
    return 1;
}

/* The same for a dict: the same length, and its first entries (the ones its
 * summary shows) still the very atomic key and value objects summarised
 * there. A dict changed only past them, or by assigning an entry its own
 * value, is not summarised again: W3's shared dict of 64 counters changes at
 * every message, almost always past the entries a summary shows. */
static int
same_mapping(PyObject *value, PyObject *summary, Py_ssize_t max_items)
{
    PyObject *items = shown_items(summary, PyDict_GET_SIZE(value), max_items);
    if (items == NULL) {
        return 0;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(items);
    Py_ssize_t position = 0;
    PyObject *key, *item;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(items, i);
        if (!PyDict_Next(value, &position, &key, &item) || !PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            PyTuple_GET_ITEM(pair, 0) != key || PyTuple_GET_ITEM(pair, 1) != item || !cgr_is_immutable(Py_TYPE(key)) ||
            !cgr_is_immutable(Py_TYPE(item))) {
            return 0;
        }
    }
    return 1;
}

/* Whether `held` (see above) says `value` is summarised as last time (`summary`): 1, 0, or -1 on error. */
int
cgr_held_still(Sampler *self, PyObject *held, PyTypeObject *cls, PyObject *value, PyObject *summary, const Limits *limits)
{
    if (held == self->redacted) {
        return 1;
    }
    if (!PyTuple_CheckExact(held)) {
        return held == value;
    }
    switch (PyTuple_GET_SIZE(held)) {
    case 2:
        return PyTuple_GET_ITEM(held, 0) == (PyObject *)cls && cgr_same_address(PyTuple_GET_ITEM(held, 1), value);
    case 3:
        return cgr_same_recorded(self, held, cls, value);
    case 4:
#ifdef CGR_DICT_VERSIONS
        if (PyTuple_GET_ITEM(held, 0) == (PyObject *)cls && PyDict_CheckExact(value) &&
            cgr_same_address(PyTuple_GET_ITEM(held, 1), value) && PyLong_CheckExact(PyTuple_GET_ITEM(held, 2))) {
            unsigned long long version = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(held, 2));
            if (version == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                return 0;
            }
            if (version == dict_version(value)) {
                return 1;
            }
        }
#endif
        if (PyTuple_GET_ITEM(held, 0) != (PyObject *)cls || limits->use_repr || limits->max_depth <= 0) {
            return 0;
        }
        if (cls == &PyList_Type || cls == &PyTuple_Type) {
            return same_sequence(value, summary, limits->max_items);
        }
        if (cls == &PyDict_Type) {
            return same_mapping(value, summary, limits->max_items);
        }
        return 0;
    default:
        return 0;
    }
}

/* Where `name` was in the last snapshot: at `at` nearly always; -1 if nowhere. */
static Py_ssize_t
place_of(PyObject *before, Py_ssize_t at, PyObject *name)
{
    if (before == NULL) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(before);
    if (at < n && PyTuple_GET_ITEM(PyTuple_GET_ITEM(before, at), 0) == name) {
        return at;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        if (PyTuple_GET_ITEM(PyTuple_GET_ITEM(before, j), 0) == name) {
            return j;
        }
    }
    return -1;
}

/* The entry's key: code object and thread mixed into one int (the entry says which they were).
 * The last one is kept: a thread samples the same frame many times in a row. */
static PyObject *
frame_key(Sampler *self, PyCodeObject *code, unsigned long thread)
{
    if (self->last_key != NULL && self->last_key_code == (uintptr_t)code && self->last_key_thread == thread) {
        return Py_NewRef(self->last_key);
    }
    unsigned long long mixed = (unsigned long long)(uintptr_t)code ^ ((unsigned long long)thread * 0x9E3779B97F4A7C15ULL);
    PyObject *key = PyLong_FromUnsignedLongLong(mixed);
    if (key != NULL) {
        Py_XSETREF(self->last_key, Py_NewRef(key));
        self->last_key_code = (uintptr_t)code;
        self->last_key_thread = thread;
        /* Remembered for the key replaced. */
        self->last_entry = NULL;
    }
    return key;
}

/* Whether `entry` is a well-formed C entry of this code and thread. */
static int
entry_of(PyObject *entry, PyCodeObject *code, unsigned long thread)
{
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
        return 0;
    }
    PyObject *snapshot = PyTuple_GET_ITEM(entry, 0), *helds = PyTuple_GET_ITEM(entry, 1);
    if (!PyTuple_CheckExact(snapshot) || !PyTuple_CheckExact(helds) || PyTuple_GET_SIZE(snapshot) != PyTuple_GET_SIZE(helds) ||
        !cgr_same_address(PyTuple_GET_ITEM(entry, 2), (PyObject *)code) || !PyLong_CheckExact(PyTuple_GET_ITEM(entry, 3))) {
        return 0;
    }
    unsigned long owner = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(entry, 3));
    if (owner == (unsigned long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return owner == thread;
}

/* What the slow path decided for one name: its pair and its held set (new references). */
static int
sample_name(Sampler *self, const Limits *limits, PyObject **pair, PyObject *name, PyObject *value, PyObject *seen_pair,
            PyObject *seen_held, PyObject **held, int *unchanged)
{
    if (seen_held == NULL || (PyTuple_CheckExact(seen_held) && PyTuple_GET_SIZE(seen_held) == 0)) {
        /* A name not seen before (or only with an unreadable value): is it a secret?
         * One seen before was not, or it would be held as one. */
        int secret = cgr_is_secret(self, name);
        if (secret < 0) {
            return -1;
        }
        if (secret) {
            *unchanged = 0;
            *held = Py_NewRef(self->redacted);
            *pair = PyTuple_Pack(2, name, self->redacted);
            return *pair == NULL ? -1 : 0;
        }
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
                return -1;
            }
            *unchanged = 0;
            *pair = PyTuple_Pack(2, name, error);
            Py_DECREF(error);
            *held = *pair == NULL ? NULL : PyTuple_New(0);
            return *held == NULL ? -1 : 0;
        }
        plain = member && !limits->use_repr;
    }
    PyObject *summary = cgr_safe_summary(self, limits, value);
    if (summary == NULL) {
        return -1;
    }
    /* Containers' contents or a repr can change while the id stays: compared by value. */
    if (!plain && seen_held != NULL && PyTuple_CheckExact(seen_held) && PyTuple_GET_SIZE(seen_held) == 4 &&
        PyTuple_GET_ITEM(seen_held, 0) == (PyObject *)cls) {
        int same = cgr_same_summary(PyTuple_GET_ITEM(seen_pair, 1), summary);
        if (same != 0) {
            /* Summarised as before: it keeps its pair (its held made again, for the dict's new stamp). */
            *held = same < 0 ? NULL : by_value_held(cls, value, summary);
            *pair = *held == NULL ? NULL : Py_NewRef(seen_pair);
            Py_DECREF(summary);
            return *held == NULL ? -1 : 0;
        }
    }
    *unchanged = 0;
    *pair = cgr_pair(name, summary);
    *held = *pair == NULL ? NULL : cgr_held_of(self, limits, value, summary);
    Py_DECREF(summary);
    return *held == NULL ? -1 : 0;
}

/* The held (see above) by which a later look knows `value`, just summarised
 * as `summary`, unchanged: a new reference, NULL on error. Shared with the
 * line events (_line_events.c), which keep one per name. */
PyObject *
cgr_held_of(Sampler *self, const Limits *limits, PyObject *value, PyObject *summary)
{
    PyTypeObject *cls = Py_TYPE(value);
    if (cgr_is_immutable(cls)) {
        return Py_NewRef(value);
    }
    int member = PySet_Contains(self->plain, (PyObject *)cls);
    /* A plain type (also one its summary has just found plain) is known by type and id. */
    if (member > 0 && !limits->use_repr) {
        return cgr_identity_of(cls, value);
    }
    /* A recorded object's label cannot change while its key stays. */
    PyObject *recorded = member < 0 ? NULL : cgr_recorded_key(self, cls, value);
    if (recorded == NULL) {
        /* A metaclass __hash__ that raised: never the same, as in the Python method's `except`. */
        return PyErr_ExceptionMatches(PyExc_Exception) ? (PyErr_Clear(), PyTuple_New(0)) : NULL;
    }
    if (recorded != Py_None) {
        return recorded;
    }
    Py_DECREF(recorded);
    return by_value_held(cls, value, summary);
}


static int
locals_add(Locals *locals, Py_ssize_t room, PyObject *name, PyObject *value)
{
    if (!PyUnicode_CheckExact(name) || locals->count >= room) {
        return 0;
    }
    locals->names[locals->count] = Py_NewRef(name);
    locals->values[locals->count] = Py_NewRef(value);
    locals->count++;
    return 0;
}

int
cgr_locals_read(Locals *locals, PyObject *namespace)
{
    locals->names = locals->names_on_stack;
    locals->values = locals->values_on_stack;
    locals->count = 0;
    if (PyDict_CheckExact(namespace) && PyDict_GET_SIZE(namespace) <= LOCALS_ON_STACK) {
        Py_ssize_t position = 0;
        PyObject *name, *value;
        while (PyDict_Next(namespace, &position, &name, &value)) {
            locals_add(locals, LOCALS_ON_STACK, name, value);
        }
        return 0;
    }
    PyObject *items = PyDict_CheckExact(namespace) ? PyDict_Items(namespace) : PyMapping_Items(namespace);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (n > LOCALS_ON_STACK) {
        locals->names = PyMem_New(PyObject *, n);
        locals->values = PyMem_New(PyObject *, n);
        if (locals->names == NULL || locals->values == NULL) {
            Py_DECREF(items);
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
            locals_add(locals, n, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
        }
    }
    Py_DECREF(items);
    return 0;
}

void
cgr_locals_release(Locals *locals)
{
    for (Py_ssize_t i = 0; i < locals->count; i++) {
        Py_DECREF(locals->names[i]);
        Py_DECREF(locals->values[i]);
    }
    if (locals->names != locals->names_on_stack) {
        PyMem_Free(locals->names);
    }
    if (locals->values != locals->values_on_stack) {
        PyMem_Free(locals->values);
    }
    locals->count = 0;
}

/* Whether every name is where it was, holding what it held: 1, 0, or -1 on error;
 * `*prefix`: how many names from the first were found so (the rest start from there). */
static int
unchanged_since(Sampler *self, const Locals *locals, const Limits *limits, PyObject *before, PyObject *before_helds,
                Py_ssize_t *prefix)
{
    Py_ssize_t n = locals->count < limits->max_names ? locals->count : limits->max_names;
    Py_ssize_t n_before = PyTuple_GET_SIZE(before);
    *prefix = 0;
    for (Py_ssize_t i = 0; i < n && i < n_before; i++) {
        if (PyTuple_GET_ITEM(PyTuple_GET_ITEM(before, i), 0) != locals->names[i]) {
            return 0;
        }
        PyObject *value = locals->values[i];
        int same = cgr_held_still(self, PyTuple_GET_ITEM(before_helds, i), Py_TYPE(value), value,
                              PyTuple_GET_ITEM(PyTuple_GET_ITEM(before, i), 1), limits);
        if (same != 1) {
            return same;
        }
        *prefix = i + 1;
    }
    return n == n_before;
}

/* Remember `entry`, well-formed, as what `frames` holds under `key` for the
 * next sample of the same code and thread: only while `key` is the last one
 * made, and only if the dict is still at `seen`, the version at which it
 * was known to hold it (summarising can run Python code that samples this
 * code again and puts another entry there). */
static void
remember_entry(Sampler *self, PyObject *key, PyObject *entry, uint64_t seen)
{
#ifdef CGR_DICT_VERSIONS
    if (key == self->last_key && dict_version(self->frames) == seen) {
        self->last_entry = entry;
        self->last_entry_version = seen;
    }
#else
    (void)self, (void)key, (void)entry, (void)seen;
#endif
}

static PyObject *
sample(Sampler *self, PyObject *frame_obj, int calling)
{
    if (!PyFrame_Check(frame_obj)) {
        PyErr_SetString(PyExc_TypeError, "frame_locals() needs a frame");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)frame_obj;
    PyCodeObject *code = PyFrame_GetCode(frame);
    /* The length first: nearly every frame sampled is a function's, whose name is not "<module>". */
    if (PyUnicode_GET_LENGTH(code->co_name) == PyUnicode_GET_LENGTH(self->module_name) &&
        PyUnicode_Compare(code->co_name, self->module_name) == 0) {
        /* The module's own names are filtered in Python. */
        Py_DECREF(code);
        return PyObject_CallFunctionObjArgs(self->fallback, frame_obj, calling ? Py_True : Py_False, NULL);
    }
    PyObject *result = NULL, *key = NULL, *entry = NULL, *namespace = NULL, *pairs = NULL, *helds = NULL;
    Locals locals = {0};
    Limits limits;
    if (cgr_read_limits(self, &limits) < 0) {
        goto done;
    }
    unsigned long thread = PyThread_get_thread_ident();
    key = frame_key(self, code, thread);
    if (key == NULL) {
        goto done;
    }
    int known;
    /* The frames' version when `entry` was found there (0 where there are no versions). */
    uint64_t seen = 0;
#ifdef CGR_DICT_VERSIONS
    seen = dict_version(self->frames);
    if (key == self->last_key && self->last_entry != NULL && self->last_entry_version == dict_version(self->frames)) {
        /* The same frame's code and thread as the last sample, and the dict
         * unchanged since: the entry found then, well-formed then and
         * changed since only by the update in place below. */
        entry = Py_NewRef(self->last_entry);
        known = 1;
    }
    else
#endif
    {
        entry = PyDict_GetItemWithError(self->frames, key);
        if (entry == NULL && PyErr_Occurred()) {
            goto done;
        }
        /* Held: summarising can run Python code, which may sample this code again and replace the entry. */
        Py_XINCREF(entry);
        known = entry_of(entry, code, thread);
    }
    PyObject *before = known ? PyTuple_GET_ITEM(entry, 0) : NULL;
    PyObject *before_helds = known ? PyTuple_GET_ITEM(entry, 1) : NULL;
    int unchanged = known, helds_changed = !known;

    /* Before 3.13 the dict cached on the frame would keep deleted locals alive
     * (see snapshot.py): it is emptied after reading, unless we are inside a
     * trace function's callback for this frame, after which CPython copies it
     * back into the variables. Where it would be emptied, the variables can
     * be read without it. */
    int emptied = 1;
#if PY_VERSION_HEX < 0x030D0000
    if (!calling) {
        PyObject *trace = PyObject_CallNoArgs(self->gettrace);
        if (trace == NULL) {
            goto done;
        }
        emptied = trace == Py_None;
        Py_DECREF(trace);
    }
#endif
    if (!emptied || !cgr_locals_direct(&locals, frame)) {
        namespace = PyFrame_GetLocals(frame);
        if (namespace == NULL || cgr_locals_read(&locals, namespace) < 0) {
            result = cgr_unreadable_locals(self);
            goto done;
        }
#if PY_VERSION_HEX < 0x030D0000
        /* Held by the frame and by us alone. */
        if (emptied && (code->co_flags & CO_OPTIMIZED) && PyDict_CheckExact(namespace) && Py_REFCNT(namespace) == 2) {
            PyDict_Clear(namespace);
        }
#endif
    }
    Py_CLEAR(namespace);

    Py_ssize_t prefix = 0;
    if (known) {
        /* Nothing changed (the common case): the last snapshot, with nothing built. */
        int same = unchanged_since(self, &locals, &limits, before, before_helds, &prefix);
        if (same < 0) {
            goto done;
        }
        if (same) {
            result = Py_NewRef(before);
            remember_entry(self, key, entry, seen);
            goto done;
        }
    }
    /* One pair and one held per name, up to max_names; those before the first change stand as they were. */
    Py_ssize_t n = locals.count < limits.max_names ? locals.count : limits.max_names;
    pairs = PyTuple_New(n);
    helds = pairs == NULL ? NULL : PyTuple_New(n);
    if (pairs == NULL || helds == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < prefix; i++) {
        PyTuple_SET_ITEM(pairs, i, Py_NewRef(PyTuple_GET_ITEM(before, i)));
        PyTuple_SET_ITEM(helds, i, Py_NewRef(PyTuple_GET_ITEM(before_helds, i)));
    }
    for (Py_ssize_t at = prefix; at < n; at++) {
        PyObject *name = locals.names[at], *value = locals.values[at];
        Py_ssize_t place = place_of(before, at, name);
        PyObject *seen_pair = place < 0 ? NULL : PyTuple_GET_ITEM(before, place);
        PyObject *seen_held = place < 0 ? NULL : PyTuple_GET_ITEM(before_helds, place);
        if (place != at) {
            unchanged = 0;
        }
        if (seen_held != NULL) {
            int same = cgr_held_still(self, seen_held, Py_TYPE(value), value, PyTuple_GET_ITEM(seen_pair, 1), &limits);
            if (same < 0) {
                goto done;
            }
            if (same) {
                /* Its pair and held stand as they are. */
                PyTuple_SET_ITEM(pairs, at, Py_NewRef(seen_pair));
                PyTuple_SET_ITEM(helds, at, Py_NewRef(seen_held));
                continue;
            }
        }
        PyObject *pair = NULL, *held = NULL;
        int failed = sample_name(self, &limits, &pair, name, value, seen_pair, seen_held, &held, &unchanged) < 0;
        if (held != seen_held) {
            helds_changed = 1;
        }
        /* Set even on failure: a tuple lets go of what it holds, NULL slots included. */
        PyTuple_SET_ITEM(pairs, at, pair);
        PyTuple_SET_ITEM(helds, at, held);
        if (failed) {
            goto done;
        }
    }

    PyObject *snapshot;
    if (unchanged && n == PyTuple_GET_SIZE(before)) {
        snapshot = Py_NewRef(before);
    }
    else {
        snapshot = Py_NewRef(pairs);
        helds_changed = 1;
    }
    if (helds_changed && known && Py_REFCNT(entry) == 2) {
        /* Held by the dict and by us alone: it takes the new snapshot and helds itself,
         * where a new entry would be made and stored (its code and thread are these). */
        PyObject *old_snapshot = PyTuple_GET_ITEM(entry, 0), *old_helds = PyTuple_GET_ITEM(entry, 1);
        PyTuple_SET_ITEM(entry, 0, Py_NewRef(snapshot));
        PyTuple_SET_ITEM(entry, 1, Py_NewRef(helds));
        Py_DECREF(old_snapshot);
        Py_DECREF(old_helds);
        remember_entry(self, key, entry, seen);
    }
    else if (helds_changed) {
        if (!known && PyDict_GET_SIZE(self->frames) >= FRAME_CACHE_LIMIT) {
            PyDict_Clear(self->frames);
        }
        PyObject *held_tuple = Py_NewRef(helds);
        /* A known entry's code and thread are these (entry_of): its ints serve again. */
        PyObject *code_id = held_tuple == NULL ? NULL : known ? Py_NewRef(PyTuple_GET_ITEM(entry, 2)) : PyLong_FromVoidPtr(code);
        PyObject *owner = code_id == NULL ? NULL : known ? Py_NewRef(PyTuple_GET_ITEM(entry, 3)) : PyLong_FromUnsignedLong(thread);
        PyObject *fresh = owner == NULL ? NULL : PyTuple_Pack(4, snapshot, held_tuple, code_id, owner);
        Py_XDECREF(held_tuple);
        Py_XDECREF(code_id);
        Py_XDECREF(owner);
        if (fresh == NULL || PyDict_SetItem(self->frames, key, fresh) < 0) {
            Py_XDECREF(fresh);
            Py_DECREF(snapshot);
            goto done;
        }
#ifdef CGR_DICT_VERSIONS
        /* Stored: remembered if the dict still holds it (the entry replaced was released meanwhile). */
        if (PyDict_GetItemWithError(self->frames, key) == fresh) {
            remember_entry(self, key, fresh, dict_version(self->frames));
        }
        PyErr_Clear(); /* an int key's lookup raises nothing; nothing is left set if it did */
#endif
        Py_DECREF(fresh);
    }
    result = snapshot;

done:
    Py_DECREF(code);
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(namespace);
    cgr_locals_release(&locals);
    Py_XDECREF(pairs);
    Py_XDECREF(helds);
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
    self->last_entry = NULL;
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
    Py_CLEAR(self->last_key);
    self->last_entry = NULL;
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
    if (PyType_Ready(&cgr_SamplerType) < 0 || PyType_Ready(&cgr_FrameEventsType) < 0 || PyType_Ready(&cgr_UserOnlyType) < 0 ||
        PyType_Ready(&cgr_FrameTableType) < 0 || cgr_recorded_init() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&sampler_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Sampler", (PyObject *)&cgr_SamplerType) < 0 ||
        PyModule_AddObjectRef(module, "FrameEvents", (PyObject *)&cgr_FrameEventsType) < 0 ||
        PyModule_AddObjectRef(module, "UserOnly", (PyObject *)&cgr_UserOnlyType) < 0 ||
        PyModule_AddObjectRef(module, "FrameTable", (PyObject *)&cgr_FrameTableType) < 0 ||
        cgr_settrace_hook_add(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

