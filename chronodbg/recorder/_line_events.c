#include "_frame_events.h"

/* ---- Code events: CodeEvents.line in C -------------------------------------------------------
 *
 * At level lines every new line of a user frame goes through CodeEvents.line
 * and its `_changed` (code_events.py): three Python frames and a loop over
 * the frame's locals, about 15,000 instructions a line on CPython 3.12, three
 * times the event's own emit. These are the same steps, on the same record
 * (`frames[id(frame)]`: [frame id, last line, known]), so the Python methods
 * that deal with calls, returns and exceptions read what this writes, and a
 * recording made with CHRONODBG_PURE_PYTHON has the same events. One step is
 * quicker here: whether a name still holds what it held is the sampler's
 * question (its `held`), which knows more values unchanged without
 * summarising them than the Python method does; where it cannot tell, the
 * value is summarised and compared, as in Python.
 */

/* Whether the name's value is as `entry` (held, type, id, summary) last saw it:
 * 1, 0, or -1 with an Exception set (a metaclass __hash__ that raised), which
 * the caller treats as "not the same", as the Python method's `except` does.
 * `held` is the sampler's (_sampler.c) where this file wrote the entry: a
 * recorded lock or queue, or a dict of counters changed past what its summary
 * shows, is then known again without summarising it (in Python, for the lock's
 * label) at every line. Entries the Python methods wrote hold a marker instead. */
static int
unchanged(FrameEvents *self, const Limits *limits, PyObject *entry, PyObject *value, PyTypeObject *cls)
{
    if (entry == NULL) {
        return 0;
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
        PyErr_SetString(PyExc_TypeError, "malformed line entry");
        return -1;
    }
    PyObject *held = PyTuple_GET_ITEM(entry, 0);
    if (held == value) {
        return 1;
    }
    if (PyTuple_GET_ITEM(entry, 1) != (PyObject *)cls) {
        return 0;
    }
    if (PyTuple_CheckExact(held)) {
        return cgr_held_still(self->sampler, held, cls, value, PyTuple_GET_ITEM(entry, 3), limits);
    }
    if (!cgr_same_address(PyTuple_GET_ITEM(entry, 2), value)) {
        return 0;
    }
    int plain = PySet_Contains(self->sampler->plain, (PyObject *)cls);
    return plain <= 0 ? plain : !limits->use_repr;
}

/* A new entry (held, type, id, kept) for `name` in `known`, stealing `held`;
 * `kept` is the summary the entry keeps (the last one written, when the new one equals it). */
static int
remember(PyObject *known, PyObject *name, PyObject *value, PyObject *held, PyObject *kept)
{
    if (held == NULL) {
        return -1;
    }
    PyObject *ident = PyLong_FromVoidPtr(value);
    PyObject *entry = ident == NULL ? NULL : PyTuple_Pack(4, held, (PyObject *)Py_TYPE(value), ident, kept);
    Py_XDECREF(ident);
    Py_DECREF(held);
    int failed = entry == NULL || PyDict_SetItem(known, name, entry) < 0;
    Py_XDECREF(entry);
    return failed ? -1 : 0;
}

/* One local of the loop in _changed: appends (name, summary) to `changed` if its summary changed. */
static int
compare_local(FrameEvents *self, const Limits *limits, PyObject *known, PyObject *name, PyObject *value, int module_level,
              PyObject **changed, Py_ssize_t *seen)
{
    Sampler *sampler = self->sampler;
    PyTypeObject *cls = Py_TYPE(value);
    PyObject *entry;
    int same;
    int hidden = 0;
    if (module_level) {
        hidden = PyUnicode_GET_LENGTH(name) >= 2 && PyUnicode_READ_CHAR(name, 0) == '_' && PyUnicode_READ_CHAR(name, 1) == '_';
        if (!hidden) {
            hidden = PySet_Contains(self->hidden_globals, (PyObject *)cls);
        }
    }
    if (hidden > 0) {
        return 0;
    }
    entry = hidden < 0 ? NULL : PyDict_GetItemWithError(known, name);
    same = hidden < 0 || PyErr_Occurred() ? -1 : unchanged(self, limits, entry, value, cls);
    if (same < 0) {
        /* The Python method's `except Exception`: summarised anew. */
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1;
        }
        PyErr_Clear();
        entry = PyDict_GetItemWithError(known, name);
        if (entry == NULL && PyErr_Occurred()) {
            return -1;
        }
        same = 0;
    }
    *seen += 1;
    if (same) {
        return 0;
    }
    Py_XINCREF(entry); /* summarising can run Python code, which could replace it */
    int secret = cgr_is_secret(sampler, name);
    PyObject *summary = secret < 0 ? NULL : secret ? Py_NewRef(sampler->redacted) : cgr_safe_summary(sampler, limits, value);
    int result = -1;
    if (summary == NULL) {
        goto done;
    }
    if (entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 4 && PyTuple_GET_ITEM(entry, 1) == (PyObject *)cls) {
        int equal = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 3), summary, Py_EQ);
        if (equal < 0) {
            goto done;
        }
        if (equal) {
            /* The same summary: the entry keeps the one it had (the snapshot's object). */
            result = remember(known, name, value, cgr_entry_held(self, limits, secret, value, summary), PyTuple_GET_ITEM(entry, 3));
            goto done;
        }
    }
    if (remember(known, name, value, cgr_entry_held(self, limits, secret, value, summary), summary) < 0) {
        goto done;
    }
    if (*changed == NULL && (*changed = PyList_New(0)) == NULL) {
        goto done;
    }
    result = cgr_add_pair(*changed, name, summary);
done:
    Py_XDECREF(summary);
    Py_XDECREF(entry);
    return result;
}

/* Whether `name` is among the frame's names. */
static int
bound(const Locals *locals, PyObject *name)
{
    for (Py_ssize_t i = 0; i < locals->count; i++) {
        if (locals->names[i] == name) {
            return 1;
        }
    }
    for (Py_ssize_t i = 0; i < locals->count; i++) {
        int equal = PyUnicode_Compare(locals->names[i], name);
        if (equal == 0) {
            return 1;
        }
        if (equal == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

/* CodeEvents._changed: the locals whose summaries differ from `known`, which is brought up to date. */
static PyObject *
changed_locals(FrameEvents *self, PyFrameObject *frame, PyObject *known)
{
    Sampler *sampler = self->sampler;
    Limits limits;
    if (cgr_read_limits(sampler, &limits) < 0) {
        return NULL;
    }
    /* The names and values are read first, with references, as the Python method's list(items()). */
    Locals locals = {0};
    int unread = 0;
    if (!cgr_locals_direct(&locals, frame)) {
        PyObject *local = PyFrame_GetLocals(frame);
        unread = local == NULL || cgr_locals_read(&locals, local) < 0;
        Py_XDECREF(local);
    }
    if (unread) {
        cgr_locals_release(&locals);
        return cgr_unreadable_locals(sampler);
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int module_level = PyUnicode_GET_LENGTH(code->co_name) == PyUnicode_GET_LENGTH(sampler->module_name) &&
                       PyUnicode_Compare(code->co_name, sampler->module_name) == 0;
    Py_DECREF(code);
    PyObject *changed = NULL, *result = NULL;
    Py_ssize_t seen = 0;
    for (Py_ssize_t i = 0; i < locals.count && seen < limits.max_names; i++) {
        if (compare_local(self, &limits, known, locals.names[i], locals.values[i], module_level, &changed, &seen) < 0) {
            goto done;
        }
    }
    if (PyDict_GET_SIZE(known) > seen) {
        /* Names no longer bound, in `known`'s order. */
        PyObject *gone = PyList_New(0);
        if (gone == NULL) {
            goto done;
        }
        Py_ssize_t position = 0;
        PyObject *name, *entry;
        int failed = 0;
        while (!failed && PyDict_Next(known, &position, &name, &entry)) {
            int there = bound(&locals, name);
            failed = there < 0 || (!there && PyList_Append(gone, name) < 0);
        }
        for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(gone); i++) {
            name = PyList_GET_ITEM(gone, i);
            failed = PyDict_DelItem(known, name) < 0 || (changed == NULL && (changed = PyList_New(0)) == NULL) ||
                     cgr_add_pair(changed, name, self->unbound) < 0;
        }
        Py_DECREF(gone);
        if (failed) {
            goto done;
        }
    }
    result = changed == NULL ? Py_NewRef(self->nothing) : PyList_AsTuple(changed);
done:
    Py_XDECREF(changed);
    cgr_locals_release(&locals);
    return result;
}

PyObject *
cgr_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    FrameEvents *self = (FrameEvents *)op;
    if (nargs != 2 || !PyFrame_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "line(frame, line)");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)args[0];
    PyObject *line = args[1];
    PyObject *record = cgr_frames_get(self->frames, frame);
    if (record == NULL) {
        return Py_NewRef(Py_None);
    }
    if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) != 3) {
        PyErr_SetString(PyExc_TypeError, "malformed frame record");
        return NULL;
    }
    Py_INCREF(record);
    PyObject *result = NULL, *changed = NULL;
    int same = PyObject_RichCompareBool(PyList_GET_ITEM(record, 1), line, Py_EQ);
    if (same != 0) {
        result = same < 0 ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    PyList_SetItem(record, 1, Py_NewRef(line));
    PyObject *known = PyList_GET_ITEM(record, 2);
    if (!PyDict_CheckExact(known)) {
        /* A frame whose code records no lines: as in Python, the line fails (and is counted dropped). */
        PyErr_SetString(PyExc_TypeError, "no line entries for this frame");
        goto done;
    }
    /* Held: summarising can run Python code (another thread's, meanwhile). */
    Py_INCREF(known);
    changed = changed_locals(self, frame, known);
    Py_DECREF(known);
    if (changed != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *items[2] = {PyList_GET_ITEM(record, 0), changed};
        result = cgr_emit_code(self, self->line_kind, items, 2, code, line);
        Py_DECREF(code);
    }
done:
    Py_XDECREF(changed);
    Py_DECREF(record);
    return result;
}

/* sys.monitoring's LINE callback: the monitored frame is the current one. */
PyObject *
cgr_on_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "callback(code, line)");
        return NULL;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *call[2] = {(PyObject *)frame, args[1]};
    PyObject *result = cgr_line(op, call, 2);
    if (result == NULL) {
        return cgr_dropped((FrameEvents *)op);
    }
    Py_DECREF(result);
    return Py_NewRef(Py_None);
}
