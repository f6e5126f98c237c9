#include "_frame_events.h"
#include "_gc_count.h"

/* ---- Code events: CodeEvents.enter and .leave in C ------------------------------------------
 *
 * At level calls and lines every call and return of user code goes through
 * CodeEvents.enter / .leave (code_events.py), which the tracers call from
 * their callbacks: a few Python frames per call, most of what the level
 * costs once the event itself is cheap. These do the same steps on the same
 * tables (frames, a FrameTable here, and parameters), so the Python methods
 * that deal with lines and exceptions read what these write.
 */

static int
line_of(PyFrameObject *frame, PyCodeObject *code)
{
    int line = PyFrame_GetLineNumber(frame);
    return line > 0 ? line : code->co_firstlineno;
}

static void
code_slot_clear(CodeSlot *slot)
{
    Py_CLEAR(slot->code);
    Py_CLEAR(slot->code_id);
    Py_CLEAR(slot->first_line);
    Py_CLEAR(slot->names);
    Py_CLEAR(slot->line[0]);
    Py_CLEAR(slot->line[1]);
}

/* The slot that holds `code`, or NULL (nothing set) if it holds another. */
static CodeSlot *
slot_of(FrameEvents *self, PyCodeObject *code)
{
    uintptr_t address = (uintptr_t)code;
    CodeSlot *slot = &self->code_slots[((address >> 4) ^ (address >> 13)) & (CODE_SLOTS - 1)];
    return slot->code == code ? slot : NULL;
}

/* The slot of `code`, taken from the code object it held before if need be; NULL with an error set.
 * What the caller reads from it is valid until it calls Python code. */
static CodeSlot *
code_slot(FrameEvents *self, PyCodeObject *code)
{
    CodeSlot *slot = slot_of(self, code);
    if (slot != NULL) {
        return slot;
    }
    uintptr_t address = (uintptr_t)code;
    slot = &self->code_slots[((address >> 4) ^ (address >> 13)) & (CODE_SLOTS - 1)];
    PyObject *code_id = PyLong_FromVoidPtr(code);
    PyObject *first_line = code_id == NULL ? NULL : PyLong_FromLong(code->co_firstlineno);
    if (first_line == NULL) {
        Py_XDECREF(code_id);
        return NULL;
    }
    /* The old references go once the slot is whole again: freeing them can run Python code (a weakref's callback). */
    CodeSlot old = *slot;
    slot->code = (PyCodeObject *)Py_NewRef(code);
    slot->code_id = code_id;
    slot->first_line = first_line;
    slot->names = NULL;
    slot->with_lines = -1;
    slot->started = 0;
    slot->at[0] = slot->at[1] = -1;
    slot->line[0] = slot->line[1] = NULL;
    slot->next = 0;
    code_slot_clear(&old);
    return slot_of(self, code) != NULL ? slot : code_slot(self, code);
}

/* The line `frame` is at, as an int (a new reference); NULL with an error set. A line
 * is worked out from the line table once per code object and instruction offset. */
static PyObject *
line_at(FrameEvents *self, PyFrameObject *frame, PyCodeObject *code)
{
    int at = PyFrame_GetLasti(frame);
    CodeSlot *slot = at < 0 ? NULL : slot_of(self, code);
    if (slot != NULL) {
        for (int i = 0; i < 2; i++) {
            if (slot->at[i] == at && slot->line[i] != NULL) {
                return Py_NewRef(slot->line[i]);
            }
        }
    }
    PyObject *line = PyLong_FromLong(line_of(frame, code));
    if (line != NULL && slot != NULL) {
        int i = slot->next;
        PyObject *old = slot->line[i];
        slot->line[i] = Py_NewRef(line);
        slot->at[i] = at;
        slot->next = 1 - i;
        Py_XDECREF(old);
    }
    return line;
}

static void
cgr_code_slots_clear(FrameEvents *self)
{
    for (int i = 0; i < CODE_SLOTS; i++) {
        code_slot_clear(&self->code_slots[i]);
    }
}

PyObject *
cgr_emit_code(FrameEvents *self, PyObject *kind, PyObject *const *data, Py_ssize_t ndata, PyCodeObject *code,
              PyObject *line)
{
    if (self->emit_items != NULL) {
        return self->emit_items(self->emit, kind, data, ndata, (PyObject *)code, line);
    }
    PyObject *tuple = cgr_tuple_of(data, ndata);
    if (tuple == NULL) {
        return NULL;
    }
    PyObject *args[4] = {kind, tuple, (PyObject *)code, line};
    PyObject *result = PyObject_Vectorcall(self->emit, args, 4, NULL);
    Py_DECREF(tuple);
    return result;
}

/* The namespace's `name` (fetched into *local the first time before 3.12): a
 * new reference, or NULL, with an error set unless it is unbound. */
static PyObject *
namespace_get(PyFrameObject *frame, PyObject **local, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = PyFrame_GetVar(frame, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_NameError)) {
        PyErr_Clear();
    }
    return value;
#else
    if (*local == NULL && (*local = PyFrame_GetLocals(frame)) == NULL) {
        return NULL;
    }
    if (PyDict_CheckExact(*local)) {
        return Py_XNewRef(PyDict_GetItemWithError(*local, name));
    }
    PyObject *value = PyObject_GetItem(*local, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
    }
    return value;
#endif
}

/* CodeEvents._arguments: (name, summary) for each parameter bound, secrets redacted; at level lines also `known`. */
static PyObject *
arguments(FrameEvents *self, PyFrameObject *frame, PyObject *names, PyObject *known)
{
    Sampler *sampler = self->sampler;
    Limits limits;
    if (cgr_read_limits(sampler, &limits) < 0) {
        return NULL;
    }
    /* One variable at a time, from the frame's own where it can be read so
     * (_fast_locals.c): PyFrame_GetLocals would build (3.12) or wrap (3.13) the
     * whole namespace at every call. */
    PyObject *local = NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(names), bound = 0;
    /* One slot per parameter, cut to those bound at the end; untracked while it has
     * empty slots, so that no look at the collector's objects (summarising can run
     * Python code) finds it half made. */
    PyObject *pairs = PyTuple_New(count);
    if (pairs == NULL) {
        goto failed;
    }
    PyObject_GC_UnTrack(pairs);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        int read;
        PyObject *value = cgr_local_direct(frame, i, name, &read);
        if (!read) {
            value = namespace_get(frame, &local, name);
        }
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto failed;
            }
            continue;
        }
        int secret = cgr_is_secret(sampler, name);
        PyObject *summary = secret < 0 ? NULL : secret ? Py_NewRef(sampler->redacted) : cgr_safe_summary(sampler, &limits, value);
        if (summary == NULL) {
            Py_DECREF(value);
            goto failed;
        }
        int bad = 0;
        if (known != Py_None) {
            /* The first line's entry (see _line_events.c). */
            PyObject *held = cgr_entry_held(self, &limits, secret, value, summary);
            PyObject *ident = held == NULL ? NULL : PyLong_FromVoidPtr(value);
            PyObject *entry = ident == NULL ? NULL : PyTuple_Pack(4, held, (PyObject *)Py_TYPE(value), ident, summary);
            Py_XDECREF(held);
            Py_XDECREF(ident);
            bad = entry == NULL || PyDict_SetItem(known, name, entry) < 0;
            Py_XDECREF(entry);
        }
        PyObject *pair = bad ? NULL : cgr_pair(name, summary);
        Py_DECREF(summary);
        Py_DECREF(value);
        if (pair == NULL) {
            goto failed;
        }
        PyTuple_SET_ITEM(pairs, bound++, pair);
    }
    Py_XDECREF(local);
    if (bound < count && _PyTuple_Resize(&pairs, bound) < 0) {
        return cgr_unreadable_locals(sampler);
    }
    return pairs;

failed:
    Py_XDECREF(local);
    Py_XDECREF(pairs);
    return cgr_unreadable_locals(sampler);
}

int
cgr_with_lines(FrameEvents *self, PyCodeObject *code, int ask)
{
    CodeSlot *slot = code_slot(self, code);
    if (slot == NULL) {
        return -1;
    }
    if (slot->with_lines >= 0) {
        return slot->with_lines;
    }
    PyObject *code_id = Py_NewRef(slot->code_id);
    int with_lines = -1;
    PyObject *lines = PyDict_GetItemWithError(self->lines_known, code_id);
    if (lines != NULL) {
        with_lines = PyObject_IsTrue(lines);
    }
    else if (ask && !PyErr_Occurred()) {
        lines = PyObject_CallOneArg(self->lines_in, (PyObject *)code);
        with_lines = lines == NULL ? -1 : PyObject_IsTrue(lines);
        if (with_lines >= 0 && PyDict_SetItem(self->lines_known, code_id, with_lines ? Py_True : Py_False) < 0) {
            with_lines = -1;
        }
        Py_XDECREF(lines);
    }
    Py_DECREF(code_id);
    if (with_lines >= 0 && (slot = slot_of(self, code)) != NULL) {
        slot->with_lines = with_lines;
    }
    return with_lines;
}

/* The names of the parameters of `code`: parameters[id(code)], asked of parameters_of the first time.
 * A new reference; NULL with an error set. */
static PyObject *
names_of(FrameEvents *self, PyCodeObject *code)
{
    CodeSlot *slot = code_slot(self, code);
    if (slot == NULL) {
        return NULL;
    }
    if (slot->names != NULL) {
        return Py_NewRef(slot->names);
    }
    PyObject *code_id = Py_NewRef(slot->code_id);
    PyObject *names = Py_XNewRef(PyDict_GetItemWithError(self->parameters, code_id));
    if (names == NULL && !PyErr_Occurred()) {
        names = PyObject_CallOneArg(self->parameters_of, (PyObject *)code);
        if (names != NULL && PyDict_SetItem(self->parameters, code_id, names) < 0) {
            Py_CLEAR(names);
        }
    }
    Py_DECREF(code_id);
    if (names != NULL && (slot = slot_of(self, code)) != NULL) {
        Py_XSETREF(slot->names, Py_NewRef(names));
    }
    return names;
}

/* A new record [frame id, None, {} or None] for `frame`, in frames; returns it (a new reference). */
static PyObject *
new_record(FrameEvents *self, void *key, PyCodeObject *code)
{
    PyObject *fid = self->frame_counter != NULL ? PyIter_Next(self->frame_counter) : PyObject_CallNoArgs(self->next_frame);
    if (fid == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "the frame counter ran out");
        }
        return NULL;
    }
    int with_lines = cgr_with_lines(self, code, 1);
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
    if (cgr_frames_set(self->frames, key, record) < 0) {
        Py_CLEAR(record);
    }
    return record;
}

PyObject *
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
    void *key = frame;
    PyObject *result = NULL, *record = NULL, *names = NULL, *line = NULL;
    if (resumed) {
        record = Py_XNewRef(cgr_frames_get(self->frames, key));
        if (record == NULL && (record = new_record(self, key, code)) == NULL) {
            goto done;
        }
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) < 1) {
            PyErr_SetString(PyExc_TypeError, "malformed frame record");
            goto done;
        }
        line = line_at(self, frame, code);
        if (line != NULL) {
            PyObject *items[3] = {PyList_GET_ITEM(record, 0), self->s_resume, Py_None};
            result = cgr_emit_code(self, self->call_kind, items, 3, code, line);
        }
        goto done;
    }
    record = new_record(self, key, code);
    names = record == NULL ? NULL : names_of(self, code);
    if (names == NULL) {
        goto done;
    }
    PyObject *pairs = PyTuple_CheckExact(names) && PyTuple_GET_SIZE(names) > 0
                          ? arguments(self, frame, names, PyList_GET_ITEM(record, 2))
                          : Py_NewRef(self->nothing);
    if (pairs == NULL) {
        goto done;
    }
    CodeSlot *slot = code_slot(self, code);
    line = slot == NULL ? NULL : Py_NewRef(slot->first_line);
    if (line != NULL) {
        PyObject *items[3] = {PyList_GET_ITEM(record, 0), self->s_call, pairs};
        result = cgr_emit_code(self, self->call_kind, items, 3, code, line);
    }
    Py_DECREF(pairs);

done:
    Py_DECREF(code);
    Py_XDECREF(record);
    Py_XDECREF(names);
    Py_XDECREF(line);
    return result;
}

PyObject *
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
    PyObject *record = yielded ? Py_XNewRef(cgr_frames_get(self->frames, frame)) : cgr_frames_pop(self->frames, frame);
    if (record == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *result = NULL;
    if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) < 1) {
        PyErr_SetString(PyExc_TypeError, "malformed frame record");
        Py_DECREF(record);
        return NULL;
    }
    Limits limits;
    PyObject *summary = cgr_read_limits(self->sampler, &limits) < 0 ? NULL : cgr_safe_summary(self->sampler, &limits, args[1]);
    if (summary != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *line = line_at(self, frame, code);
        if (line != NULL) {
            PyObject *items[3] = {PyList_GET_ITEM(record, 0), yielded ? self->s_yield : self->s_return, summary};
            result = cgr_emit_code(self, self->return_kind, items, 3, code, line);
        }
        Py_XDECREF(line);
        Py_DECREF(code);
        Py_DECREF(summary);
    }
    Py_DECREF(record);
    return result;
}


/* The held of a name's line entry: the sampler's (its cgr_held_of), by which the next
 * line knows the value unchanged without summarising it; a secret's is the redacted
 * marker, whose value is never read again. A new reference, NULL on error. */
PyObject *
cgr_entry_held(FrameEvents *self, const Limits *limits, int secret, PyObject *value, PyObject *summary)
{
    return secret ? Py_NewRef(self->sampler->redacted) : cgr_held_of(self->sampler, limits, value, summary);
}

/* sys.monitoring's PY_RETURN / PY_YIELD / PY_RESUME callbacks themselves (tracer_monitoring):
 * the monitored frame is the current one, and no exception may leave a callback
 * (sys.monitoring would raise it in the program): an Exception counts as a
 * dropped event on the recorder, as in the Python callbacks. */
PyObject *
cgr_dropped(FrameEvents *self)
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
        return cgr_dropped(self);
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
        return cgr_dropped((FrameEvents *)self);
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
    if (!PyCode_Check(args[0])) {
        return PyObject_Vectorcall(self->start_fallback, args, nargs, NULL);
    }
    CodeSlot *slot = code_slot(self, (PyCodeObject *)args[0]);
    if (slot == NULL) {
        return cgr_dropped(self);
    }
    if (!slot->started) {
        /* Lookups by an exact int run no Python code: the slot stays the code's. */
        PyObject *known = PyDict_GetItemWithError(self->traced, slot->code_id);
        int enabled = known == Py_True ? PyDict_Contains(self->local, slot->code_id) : 0;
        if (enabled <= 0) {
            if (enabled < 0 || PyErr_Occurred()) {
                return cgr_dropped(self);
            }
            return PyObject_Vectorcall(self->start_fallback, args, nargs, NULL);
        }
        /* Both are written once per id(code) and never taken back while recording. */
        slot->started = 1;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL) {
        return Py_NewRef(Py_None);
    }
    PyObject *call[2] = {(PyObject *)frame, Py_False};
    PyObject *result = FrameEvents_enter(op, call, 2);
    if (result == NULL) {
        return cgr_dropped(self);
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
    for (int i = 0; i < CODE_SLOTS; i++) {
        self->code_slots[i].started = 0;
    }
    return Py_NewRef(Py_None);
}

static int
FrameEvents_init(FrameEvents *self, PyObject *args, PyObject *kwds)
{
    PyObject *events, *sampler, *parameters_of, *call_kind, *return_kind, *nothing, *line_kind, *unbound;
    PyObject *hidden_globals;
    if (!PyArg_ParseTuple(args, "OO!OOOOOOO!:FrameEvents", &events, &cgr_SamplerType, &sampler, &parameters_of, &call_kind,
                          &return_kind, &nothing, &line_kind, &unbound, &PyFrozenSet_Type, &hidden_globals)) {
        return -1;
    }
    PyObject *frames = PyObject_GetAttrString(events, "frames");
    PyObject *parameters = PyObject_GetAttrString(events, "_parameters");
    PyObject *next_frame = PyObject_GetAttrString(events, "_next_frame");
    /* Its numbers straight from the counter, where CodeEvents shows it (no call through the bound __next__). */
    PyObject *frame_counter = PyObject_GetAttrString(events, "_frame_counter");
    if (frame_counter == NULL || !PyIter_Check(frame_counter)) {
        PyErr_Clear();
        Py_CLEAR(frame_counter);
    }
    PyObject *lines_in = PyObject_GetAttrString(events, "lines_in");
    PyObject *emit = PyObject_GetAttrString(events, "emit");
    PyObject *rec = PyObject_GetAttrString(events, "rec");
    PyObject *traced = PyObject_GetAttrString(events, "traced");
    PyObject *s_call = PyUnicode_InternFromString("call");
    PyObject *s_resume = PyUnicode_InternFromString("resume");
    PyObject *s_return = PyUnicode_InternFromString("return");
    PyObject *s_yield = PyUnicode_InternFromString("yield");
    PyObject *lines_known = PyDict_New();
    if (lines_known == NULL || frames == NULL || parameters == NULL || next_frame == NULL || lines_in == NULL || emit == NULL || rec == NULL || traced == NULL || !PyDict_CheckExact(traced) ||
        s_call == NULL || s_resume == NULL || s_return == NULL || s_yield == NULL || !Py_IS_TYPE(frames, &cgr_FrameTableType) ||
        !PyDict_CheckExact(parameters)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "FrameEvents: not a CodeEvents");
        }
        Py_XDECREF(frames);
        Py_XDECREF(parameters);
        Py_XDECREF(next_frame);
        Py_XDECREF(frame_counter);
        Py_XDECREF(lines_in);
        Py_XDECREF(emit);
        Py_XDECREF(rec);
        Py_XDECREF(traced);
        Py_XDECREF(s_call);
        Py_XDECREF(s_resume);
        Py_XDECREF(s_return);
        Py_XDECREF(s_yield);
        Py_XDECREF(lines_known);
        return -1;
    }
    Py_XSETREF(self->sampler, (Sampler *)Py_NewRef(sampler));
    Py_XSETREF(self->frames, (FrameTable *)frames);
    Py_XSETREF(self->parameters, parameters);
    Py_XSETREF(self->parameters_of, Py_NewRef(parameters_of));
    Py_XSETREF(self->next_frame, next_frame);
    Py_XSETREF(self->frame_counter, frame_counter);
    cgr_code_slots_clear(self);
    Py_XSETREF(self->lines_in, lines_in);
    Py_XSETREF(self->lines_known, lines_known);
    Py_XSETREF(self->emit, emit);
    /* Found once: an EmitCode's module is loaded while the EmitCode exists. */
    const CgrEventApi *api = cgr_event_api();
    self->emit_items = api != NULL && Py_TYPE(emit) == api->emit_code_type ? api->emit_code : NULL;
    Py_XSETREF(self->rec, rec);
    Py_XSETREF(self->traced, traced);
    Py_XSETREF(self->call_kind, Py_NewRef(call_kind));
    Py_XSETREF(self->return_kind, Py_NewRef(return_kind));
    Py_XSETREF(self->nothing, Py_NewRef(nothing));
    Py_XSETREF(self->s_call, s_call);
    Py_XSETREF(self->s_resume, s_resume);
    Py_XSETREF(self->s_return, s_return);
    Py_XSETREF(self->s_yield, s_yield);
    Py_XSETREF(self->line_kind, Py_NewRef(line_kind));
    Py_XSETREF(self->unbound, Py_NewRef(unbound));
    Py_XSETREF(self->hidden_globals, Py_NewRef(hidden_globals));
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
    Py_VISIT(self->frame_counter);
    for (int i = 0; i < CODE_SLOTS; i++) {
        Py_VISIT(self->code_slots[i].names);
    }
    Py_VISIT(self->lines_in);
    Py_VISIT(self->lines_known);
    Py_VISIT(self->emit);
    Py_VISIT(self->rec);
    Py_VISIT(self->traced);
    Py_VISIT(self->local);
    Py_VISIT(self->start_fallback);
    Py_VISIT(self->unbound);
    Py_VISIT(self->hidden_globals);
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
    Py_CLEAR(self->frame_counter);
    cgr_code_slots_clear(self);
    Py_CLEAR(self->lines_in);
    Py_CLEAR(self->lines_known);
    Py_CLEAR(self->emit);
    self->emit_items = NULL;
    Py_CLEAR(self->call_kind);
    Py_CLEAR(self->return_kind);
    Py_CLEAR(self->nothing);
    Py_CLEAR(self->s_call);
    Py_CLEAR(self->s_resume);
    Py_CLEAR(self->s_return);
    Py_CLEAR(self->s_yield);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->traced);
    Py_CLEAR(self->local);
    Py_CLEAR(self->start_fallback);
    Py_CLEAR(self->line_kind);
    Py_CLEAR(self->unbound);
    Py_CLEAR(self->hidden_globals);
    return 0;
}

static void
FrameEvents_dealloc(FrameEvents *self)
{
    PyObject_GC_UnTrack(self);
    FrameEvents_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The methods as called: what a code event allocates does not count towards a collection (see _gc_count.c). */
#define KEEP_YOUNG(name, impl)                                                \
    static PyObject *name(PyObject *op, PyObject *const *args, Py_ssize_t nargs) \
    {                                                                         \
        CgrYoung young = cgr_young_save();                                        \
        PyObject *result = impl(op, args, nargs);                             \
        cgr_young_restore(young);                                             \
        return result;                                                        \
    }
KEEP_YOUNG(enter_kept, FrameEvents_enter)
KEEP_YOUNG(leave_kept, FrameEvents_leave)
KEEP_YOUNG(on_return_kept, FrameEvents_on_return)
KEEP_YOUNG(on_yield_kept, FrameEvents_on_yield)
KEEP_YOUNG(on_resume_kept, FrameEvents_on_resume)
KEEP_YOUNG(on_start_kept, FrameEvents_on_start)
KEEP_YOUNG(line_kept, cgr_line)
KEEP_YOUNG(on_line_kept, cgr_on_line)
#undef KEEP_YOUNG

static PyMethodDef FrameEvents_methods[] = {
    {"enter", (PyCFunction)(void (*)(void))enter_kept, METH_FASTCALL, PyDoc_STR("enter(frame, resumed): CodeEvents.enter")},
    {"leave", (PyCFunction)(void (*)(void))leave_kept, METH_FASTCALL, PyDoc_STR("leave(frame, value, yielded): CodeEvents.leave")},
    {"on_return", (PyCFunction)(void (*)(void))on_return_kept, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_RETURN callback")},
    {"on_yield", (PyCFunction)(void (*)(void))on_yield_kept, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_YIELD callback")},
    {"on_resume", (PyCFunction)(void (*)(void))on_resume_kept, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_RESUME callback")},
    {"on_start", (PyCFunction)(void (*)(void))on_start_kept, METH_FASTCALL, PyDoc_STR("sys.monitoring PY_START callback (after use_start)")},
    {"use_start", (PyCFunction)(void (*)(void))FrameEvents_use_start, METH_FASTCALL, PyDoc_STR("use_start(local, fallback)")},
    {"line", (PyCFunction)(void (*)(void))line_kept, METH_FASTCALL, PyDoc_STR("line(frame, line): CodeEvents.line")},
    {"on_line", (PyCFunction)(void (*)(void))on_line_kept, METH_FASTCALL, PyDoc_STR("sys.monitoring LINE callback")},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cgr_FrameEventsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.FrameEvents",
    .tp_doc = PyDoc_STR("FrameEvents(events, sampler, parameters_of, call, return, nothing, line, unbound, hidden_globals)."),
    .tp_basicsize = sizeof(FrameEvents),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FrameEvents_init,
    .tp_dealloc = (destructor)FrameEvents_dealloc,
    .tp_traverse = (traverseproc)FrameEvents_traverse,
    .tp_clear = (inquiry)FrameEvents_clear,
    .tp_methods = FrameEvents_methods,
};

