#include "_frame_events.h"
#include "_gc_count.h"

/* ---- The settrace tracer's trace function in C (CPython 3.11) --------------------------------
 *
 * `sys.settrace(f)` makes CPython call `f` through a trampoline that, for
 * every call, return and exception of every frame of the thread, copies the
 * frame's variables into its locals dict and calls `f` as Python. On 3.11,
 * where settrace is how calls and lines are recorded, that was most of what
 * `--level calls` cost a program that spends its time in library code
 * (asyncio's, threading's, queue's): each of their calls paid a Python call
 * that only said "not user code".
 *
 * SettraceHook is installed with PyEval_SetTrace instead and does the common
 * steps itself, on the same dicts as tracer_settrace's Python functions:
 *   - a call of code known not to be the user's: f_trace_lines off (as
 *     global_trace does);
 *   - a call of code known to be the user's: global_trace's steps
 *     (f_trace_lines, FrameEvents.enter, f_trace = local_trace);
 *   - a return or line of a frame whose f_trace is local_trace, with no
 *     exception in flight: local_trace's steps (FrameEvents.leave, .line);
 *   - the StopIteration that ends an await, a `yield from` or a `for` in
 *     such a frame: nothing, as local_trace does.
 * Everything else (code met for the first time, exceptions, opcodes) goes
 * to the Python function as the trampoline would send it, so the two
 * tracers stay one implementation. A frame whose f_trace is the program's
 * own gets nothing: the program has no trace function installed while this
 * hook is the thread's (under sys.settrace, CPython would call it, which
 * unrecorded it would not).
 *
 * Its fast paths read and write the frame object's first fields (f_trace,
 * f_trace_lines), which CPython 3.11 keeps in an internal header: the
 * layout below is checked against the frame's attributes when a hook is made.
 */

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000

/* The start of 3.11's struct _frame (Include/internal/pycore_frame.h). */
typedef struct {
    PyObject_HEAD
    PyFrameObject *f_back;
    void *f_frame;
    PyObject *f_trace;
    int f_lineno;
    char f_trace_lines;
    char f_trace_opcodes;
} FrameHead;

/* co_flags of generator, coroutine and async generator code: a 'call' event may be a resume. */
#define SUSPENDABLE (0x20 | 0x80 | 0x100 | 0x200)
/* PyTrace_CALL .. PyTrace_OPCODE */
#define WHAT_COUNT 8

/* Slots of the cache of the traced dict's answers (a power of two). */
#define VERDICTS 1024

/* One code object's answer, as the dict gave it. */
typedef struct {
    void *code;
    int verdict;
} Verdict;

typedef struct {
    PyObject_HEAD
    FrameEvents *events;
    PyObject *global_trace; /* tracer_settrace's global_trace: code met for the first time */
    PyObject *local_trace;  /* its local_trace: every frame of user code has it as f_trace */
    PyObject *flight;       /* its dict of exceptions in flight: while not empty, returns and lines are its */
    PyObject *what[WHAT_COUNT]; /* the event names the trampoline passes */
    unsigned char is_return[256], is_yield[256], ends_iteration[256];
    unsigned char resume_op;
    int running;
    /* Every call of every frame asks `traced`: a dict lookup by a new int each
     * time was 7% of a library-heavy program's run. The dict is written once
     * per id(code), so what it answered stays its answer (for a code object
     * that dies and whose address is reused too, as for the dict keyed by its
     * id). `lines_known`, asked at every line of a user frame, is kept in
     * FrameEvents' code slots (cgr_with_lines). */
    Verdict traced_seen[VERDICTS];
} SettraceHook;

static int
dropped(SettraceHook *self, PyFrameObject *frame)
{
    PyObject *none = cgr_dropped(self->events);
    if (none != NULL) {
        Py_DECREF(none);
        return 0;
    }
    /* A BaseException: out into the program, with tracing off in this thread, as the trampoline does. */
    PyEval_SetTrace(NULL, NULL);
    Py_CLEAR(((FrameHead *)frame)->f_trace);
    return -1;
}

/* Call `callback(frame, what, arg)` as CPython's trampoline would, and take its result as the frame's f_trace. */
static int
trampoline(SettraceHook *self, PyObject *callback, PyFrameObject *frame, int what, PyObject *arg)
{
    FrameHead *f = (FrameHead *)frame;
    int ours = callback == self->global_trace || callback == self->local_trace;
    if (!ours && PyFrame_FastToLocalsWithError(frame) < 0) {
        return -1;
    }
    PyObject *args[3] = {(PyObject *)frame, self->what[what], arg != NULL ? arg : Py_None};
    Py_INCREF(callback); /* it may clear f_trace, which held it */
    PyObject *result = PyObject_Vectorcall(callback, args, 3, NULL);
    Py_DECREF(callback);
    if (!ours) {
        PyFrame_LocalsToFast(frame, 1);
    }
    if (result == NULL) {
        PyEval_SetTrace(NULL, NULL);
        Py_CLEAR(f->f_trace);
        return -1;
    }
    if (result != Py_None) {
        Py_XSETREF(f->f_trace, result);
    }
    else {
        Py_DECREF(result);
    }
    return 0;
}

/* The opcode at the frame's last instruction (RESUME before its first), or -1 with an error set. */
static int
last_opcode(SettraceHook *self, PyFrameObject *frame, PyCodeObject *code)
{
    int lasti = PyFrame_GetLasti(frame);
    if (lasti < 0) {
        return self->resume_op;
    }
    PyObject *raw = PyCode_GetCode(code);
    if (raw == NULL) {
        return -1;
    }
    int op = lasti < PyBytes_GET_SIZE(raw) ? (unsigned char)PyBytes_AS_STRING(raw)[lasti] : self->resume_op;
    Py_DECREF(raw);
    return op;
}

/* Whether a 'call' event of a suspendable frame resumes it: it is past its first RESUME (operand 0). */
static int
resumed(SettraceHook *self, PyFrameObject *frame, PyCodeObject *code)
{
    if (!(code->co_flags & SUSPENDABLE)) {
        return 0;
    }
    int lasti = PyFrame_GetLasti(frame);
    if (lasti < 0) {
        return 0;
    }
    PyObject *raw = PyCode_GetCode(code);
    if (raw == NULL) {
        return -1;
    }
    const unsigned char *ops = (const unsigned char *)PyBytes_AS_STRING(raw);
    int starting = lasti + 1 < PyBytes_GET_SIZE(raw) && ops[lasti] == self->resume_op && (ops[lasti + 1] & 3) == 0;
    Py_DECREF(raw);
    return !starting;
}

/* A dict of FrameEvents keyed by id(code): 1, 0, or -1 when the code is not in it (or on an error, then set). */
static int
by_code(PyObject *dict, PyCodeObject *code)
{
    PyObject *key = PyLong_FromVoidPtr(code);
    if (key == NULL) {
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(dict, key);
    Py_DECREF(key);
    if (known == NULL) {
        return -1;
    }
    return known == Py_True ? 1 : known == Py_False ? 0 : PyObject_IsTrue(known);
}

/* by_code through a cache of its answers (a slot per code address, the last code that took it). */
static int
by_code_seen(Verdict *seen, PyObject *dict, PyCodeObject *code)
{
    uintptr_t address = (uintptr_t)code;
    Verdict *slot = &seen[((address >> 4) ^ (address >> 14)) & (VERDICTS - 1)];
    if (slot->code == (void *)code) {
        return slot->verdict;
    }
    int verdict = by_code(dict, code);
    if (verdict >= 0) {
        slot->code = code;
        slot->verdict = verdict;
    }
    return verdict;
}

/* global_trace for code known to be the user's. */
static int
enter(SettraceHook *self, PyFrameObject *frame, PyCodeObject *code)
{
    int again = resumed(self, frame, code);
    /* Not asked yet: CodeEvents.lines_in decides, and lines_known remembers it. */
    int lines = again < 0 ? -1 : cgr_with_lines(self->events, code, 1);
    if (lines < 0) {
        return dropped(self, frame);
    }
    ((FrameHead *)frame)->f_trace_lines = (char)lines;
    PyObject *args[2] = {(PyObject *)frame, again ? Py_True : Py_False};
    PyObject *result = FrameEvents_enter((PyObject *)self->events, args, 2);
    if (result == NULL) {
        return dropped(self, frame);
    }
    Py_DECREF(result);
    Py_XSETREF(((FrameHead *)frame)->f_trace, Py_NewRef(self->local_trace));
    return 0;
}

/* local_trace's 'return' of a return or a yield: 1 when done, 0 for local_trace (an unwind), -1 on error. */
static int
leave(SettraceHook *self, PyFrameObject *frame, PyObject *value)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    int op = last_opcode(self, frame, code);
    Py_DECREF(code);
    if (op < 0) {
        return dropped(self, frame) < 0 ? -1 : 1;
    }
    if (!self->is_return[op] && !self->is_yield[op]) {
        return 0;
    }
    PyObject *args[3] = {(PyObject *)frame, value != NULL ? value : Py_None, self->is_return[op] ? Py_False : Py_True};
    PyObject *result = FrameEvents_leave((PyObject *)self->events, args, 3);
    if (result == NULL) {
        return dropped(self, frame) < 0 ? -1 : 1;
    }
    Py_DECREF(result);
    return 1;
}

/* Whether an 'exception' event reports the StopIteration with which an await, a `yield from` or a `for`
 * meets its end (what CodeEvents.ends_iteration tells local_trace to pass over). Under a trace function
 * 3.11 raises one at every await that completes, in the awaiting frame: a Python call each. */
static int
ends_iteration(SettraceHook *self, PyFrameObject *frame, PyObject *arg)
{
    if (arg == NULL || !PyTuple_Check(arg) || PyTuple_GET_SIZE(arg) != 3 ||
        !Py_IS_TYPE(PyTuple_GET_ITEM(arg, 1), (PyTypeObject *)PyExc_StopIteration)) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int op = last_opcode(self, frame, code);
    Py_DECREF(code);
    if (op < 0) {
        PyErr_Clear(); /* local_trace decides, as before */
        return 0;
    }
    return self->ends_iteration[op];
}

/* local_trace's 'line': 1 when done, 0 for local_trace (code whose lines were never asked about), -1 on error. */
static int
line(SettraceHook *self, PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    int lines = cgr_with_lines(self->events, code, 0);
    Py_DECREF(code);
    if (lines <= 0) {
        if (lines < 0 && !PyErr_Occurred()) {
            return 0;
        }
        return lines < 0 && dropped(self, frame) < 0 ? -1 : 1;
    }
    int number = PyFrame_GetLineNumber(frame);
    PyObject *lineno = number < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(number);
    PyObject *args[2] = {(PyObject *)frame, lineno};
    PyObject *result = lineno == NULL ? NULL : cgr_line((PyObject *)self->events, args, 2);
    Py_XDECREF(lineno);
    if (result == NULL) {
        return dropped(self, frame) < 0 ? -1 : 1;
    }
    Py_DECREF(result);
    return 1;
}

static int
hook_trace(PyObject *op, PyFrameObject *frame, int what, PyObject *arg)
{
    SettraceHook *self = (SettraceHook *)op;
    if (what == PyTrace_CALL) {
        if (!self->running) {
            PyEval_SetTrace(NULL, NULL); /* recording stopped: this thread drops the hook */
            return 0;
        }
        PyCodeObject *code = PyFrame_GetCode(frame);
        int user = by_code_seen(self->traced_seen, self->events->traced, code);
        int result;
        if (user < 0 && PyErr_Occurred()) {
            result = dropped(self, frame);
        }
        else if (user < 0) {
            result = trampoline(self, self->global_trace, frame, what, arg);
        }
        else if (user) {
            result = enter(self, frame, code);
        }
        else {
            /* No line events for it either: CPython would otherwise call this
             * function at each of its lines only to find no f_trace. */
            ((FrameHead *)frame)->f_trace_lines = 0;
            result = 0;
        }
        Py_DECREF(code);
        return result;
    }
    PyObject *callback = ((FrameHead *)frame)->f_trace;
    if (callback == NULL || what < 0 || what >= WHAT_COUNT) {
        return 0;
    }
    if (callback != self->local_trace) {
        /* The program's own f_trace, while the thread's trace function is
         * this hook: the program has none installed (sys.gettrace() says
         * None to it), and unrecorded CPython would not call it. */
        return 0;
    }
    if (what == PyTrace_EXCEPTION && self->running && ends_iteration(self, frame, arg)) {
        return 0;
    }
    if (self->running && PyDict_GET_SIZE(self->flight) == 0) {
        int done = what == PyTrace_RETURN ? leave(self, frame, arg) : what == PyTrace_LINE ? line(self, frame) : 0;
        if (done != 0) {
            return done > 0 ? 0 : -1;
        }
    }
    return trampoline(self, callback, frame, what, arg);
}

/* Whether this build's idea of the frame's first fields is the interpreter's: set them through the attributes, read them here. */
static int
layout_holds(void)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* the caller's: a Python frame */
    if (frame == NULL) {
        return 0;
    }
    FrameHead *f = (FrameHead *)frame;
    PyObject *saved_trace = Py_XNewRef(f->f_trace);
    char saved_lines = f->f_trace_lines;
    PyObject *probe = PyList_New(0);
    int holds = probe != NULL && PyObject_SetAttrString((PyObject *)frame, "f_trace", probe) == 0 && f->f_trace == probe &&
                PyObject_SetAttrString((PyObject *)frame, "f_trace_lines", saved_lines ? Py_False : Py_True) == 0 &&
                f->f_trace_lines == !saved_lines;
    Py_XSETREF(f->f_trace, saved_trace);
    f->f_trace_lines = saved_lines;
    Py_XDECREF(probe);
    PyErr_Clear();
    return holds;
}

static int
fill_table(unsigned char *table, PyObject *ops)
{
    PyObject *iterator = PyObject_GetIter(ops);
    if (iterator == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(iterator)) != NULL) {
        long op = PyLong_AsLong(item);
        Py_DECREF(item);
        if (op < 0 || op > 255) {
            Py_DECREF(iterator);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "an opcode is 0..255");
            }
            return -1;
        }
        table[op] = 1;
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

static int
SettraceHook_init(SettraceHook *self, PyObject *args, PyObject *kwds)
{
    static const char *names[WHAT_COUNT] = {"call", "exception", "line", "return", "c_call", "c_exception", "c_return", "opcode"};
    PyObject *events, *global_trace, *local_trace, *flight, *returns, *yields, *iteration_ends;
    int resume_op;
    if (!PyArg_ParseTuple(args, "O!OOO!OOOi:SettraceHook", &cgr_FrameEventsType, &events, &global_trace, &local_trace,
                          &PyDict_Type, &flight, &returns, &yields, &iteration_ends, &resume_op)) {
        return -1;
    }
    if (resume_op < 0 || resume_op > 255) {
        PyErr_SetString(PyExc_ValueError, "an opcode is 0..255");
        return -1;
    }
    if (!layout_holds()) {
        PyErr_SetString(PyExc_RuntimeError, "this interpreter's frame objects are not laid out as SettraceHook expects");
        return -1;
    }
    memset(self->traced_seen, 0, sizeof self->traced_seen);
    memset(self->is_return, 0, sizeof self->is_return);
    memset(self->is_yield, 0, sizeof self->is_yield);
    memset(self->ends_iteration, 0, sizeof self->ends_iteration);
    if (fill_table(self->is_return, returns) < 0 || fill_table(self->is_yield, yields) < 0 ||
        fill_table(self->ends_iteration, iteration_ends) < 0) {
        return -1;
    }
    for (int i = 0; i < WHAT_COUNT; i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (name == NULL) {
            return -1;
        }
        Py_XSETREF(self->what[i], name);
    }
    Py_XSETREF(self->events, (FrameEvents *)Py_NewRef(events));
    Py_XSETREF(self->global_trace, Py_NewRef(global_trace));
    Py_XSETREF(self->local_trace, Py_NewRef(local_trace));
    Py_XSETREF(self->flight, Py_NewRef(flight));
    self->resume_op = (unsigned char)resume_op;
    self->running = 0;
    return 0;
}

/* The trace function as installed: what it allocates does not count towards a collection (see _gc_count.c). */
static int
hook_trace_kept(PyObject *op, PyFrameObject *frame, int what, PyObject *arg)
{
    CgrYoung young = cgr_young_save();
    int result = hook_trace(op, frame, what, arg);
    cgr_young_restore(young);
    return result;
}

static PyObject *
SettraceHook_install(PyObject *op, PyObject *unused)
{
    if (((SettraceHook *)op)->events == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SettraceHook not initialised");
        return NULL;
    }
    PyEval_SetTrace(hook_trace_kept, op);
    Py_RETURN_NONE;
}

static PyObject *
SettraceHook_start(PyObject *op, PyObject *unused)
{
    ((SettraceHook *)op)->running = 1;
    Py_RETURN_NONE;
}

static PyObject *
SettraceHook_stop(PyObject *op, PyObject *unused)
{
    ((SettraceHook *)op)->running = 0;
    Py_RETURN_NONE;
}

static int
SettraceHook_traverse(SettraceHook *self, visitproc visit, void *arg)
{
    Py_VISIT(self->events);
    Py_VISIT(self->global_trace);
    Py_VISIT(self->local_trace);
    Py_VISIT(self->flight);
    return 0;
}

static int
SettraceHook_clear(SettraceHook *self)
{
    Py_CLEAR(self->events);
    Py_CLEAR(self->global_trace);
    Py_CLEAR(self->local_trace);
    Py_CLEAR(self->flight);
    for (int i = 0; i < WHAT_COUNT; i++) {
        Py_CLEAR(self->what[i]);
    }
    return 0;
}

static void
SettraceHook_dealloc(SettraceHook *self)
{
    PyObject_GC_UnTrack(self);
    SettraceHook_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SettraceHook_methods[] = {
    {"install", SettraceHook_install, METH_NOARGS, PyDoc_STR("install(): trace the calling thread (PyEval_SetTrace).")},
    {"start", SettraceHook_start, METH_NOARGS, PyDoc_STR("start(): record what the traced threads do.")},
    {"stop", SettraceHook_stop, METH_NOARGS, PyDoc_STR("stop(): each traced thread drops the hook at its next call.")},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SettraceHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.SettraceHook",
    .tp_basicsize = sizeof(SettraceHook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SettraceHook_init,
    .tp_dealloc = (destructor)SettraceHook_dealloc,
    .tp_traverse = (traverseproc)SettraceHook_traverse,
    .tp_clear = (inquiry)SettraceHook_clear,
    .tp_methods = SettraceHook_methods,
    .tp_doc = PyDoc_STR("SettraceHook(events, global_trace, local_trace, flight, returns, yields, iteration_ends, resume): "
                        "tracer_settrace's trace functions in C."),
};

int
cgr_settrace_hook_add(PyObject *module)
{
    if (PyType_Ready(&SettraceHookType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "SettraceHook", (PyObject *)&SettraceHookType);
}

#else

int
cgr_settrace_hook_add(PyObject *module)
{
    /* 3.12+ records code events with sys.monitoring; settrace there stays the Python functions. */
    (void)module;
    return 0;
}

#endif
