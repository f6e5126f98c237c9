#include "_hooks.h"

/* ---- The recorder's own Python code, out of the settrace tracer's way ------------------------
 *
 * Under sys.settrace (the calls and lines levels on 3.11) CPython pays for
 * tracing in every Python frame of the thread, whether or not the trace
 * function cares about it: a frame object and a call into the trace
 * function at each call, return and yield, and a check at each instruction.
 * The recorder's own wrappers (asyncio's Handle._run, the primitives'
 * methods) ran that way at every event, and made W3 at --level calls 10%
 * slower than its events cost.
 *
 * Untraced(f) calls f as a trace function's own code runs: with the
 * thread's tracing paused (PyThreadState_EnterTracing), so no event is made
 * for it or for what it calls and its instructions run at full speed.
 * Traced(g) is for what such a wrapper calls that may run the program's
 * code (the original method, a callback): g runs with tracing as it was
 * outside the Untraced, so the program's frames are recorded as before.
 * Both are methods when set on a class, like the functions they wrap.
 *
 * sys.monitoring (3.12+) needs neither: the recorder's code objects are
 * switched off there at their first event.
 */

/* A Wrapper (_hooks.h) whose `original` is the function it calls. */
typedef Wrapper Bracket;

static PyObject *
untraced_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyThreadState *tstate = PyThreadState_Get();
    PyThreadState_EnterTracing(tstate);
    PyObject *result = PyObject_Vectorcall(((Bracket *)op)->original, args, nargsf, kwnames);
    PyThreadState_LeaveTracing(tstate);
    return result;
}

static PyObject *
traced_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyThreadState *tstate = PyThreadState_Get();
    if (tstate->tracing <= 0) {
        /* Not inside an Untraced: nothing to resume. */
        return PyObject_Vectorcall(((Bracket *)op)->original, args, nargsf, kwnames);
    }
    PyThreadState_LeaveTracing(tstate);
    PyObject *result = PyObject_Vectorcall(((Bracket *)op)->original, args, nargsf, kwnames);
    PyThreadState_EnterTracing(tstate);
    return result;
}

static int
bracket_init(Bracket *self, PyObject *args, vectorcallfunc call)
{
    PyObject *function;
    if (!PyArg_ParseTuple(args, "O", &function)) {
        return -1;
    }
    if (!PyCallable_Check(function)) {
        PyErr_SetString(PyExc_TypeError, "the argument must be callable");
        return -1;
    }
    Py_XSETREF(self->original, Py_NewRef(function));
    self->vectorcall = call;
    return 0;
}

static int
Untraced_init(Bracket *self, PyObject *args, PyObject *kwds)
{
    (void)kwds;
    return bracket_init(self, args, untraced_call);
}

static int
Traced_init(Bracket *self, PyObject *args, PyObject *kwds)
{
    (void)kwds;
    return bracket_init(self, args, traced_call);
}

static int
bracket_traverse(Bracket *self, visitproc visit, void *arg)
{
    Py_VISIT(self->original);
    return 0;
}

static int
bracket_clear(Bracket *self)
{
    Py_CLEAR(self->original);
    return 0;
}

#define BRACKET_TYPE(NAME, INIT, DOC)                                                                            \
    {                                                                                                            \
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chronodbg.recorder._hooks." NAME,                            \
        .tp_basicsize = sizeof(Bracket),                                                                         \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |                       \
                    Py_TPFLAGS_METHOD_DESCRIPTOR,                                                                \
        .tp_new = PyType_GenericNew, .tp_init = (initproc)INIT, .tp_dealloc = wrapper_dealloc,                   \
        .tp_traverse = (traverseproc)bracket_traverse, .tp_clear = (inquiry)bracket_clear,                       \
        .tp_vectorcall_offset = offsetof(Bracket, vectorcall), .tp_call = PyVectorcall_Call,                     \
        .tp_descr_get = wrapper_get, .tp_getset = wrapper_getset, .tp_doc = PyDoc_STR(DOC),                      \
    }

static PyTypeObject UntracedType = BRACKET_TYPE(
    "Untraced", Untraced_init, "Untraced(f): f, called with this thread's trace and profile functions paused.");
static PyTypeObject TracedType = BRACKET_TYPE(
    "Traced", Traced_init, "Traced(g): g, called with the tracing an enclosing Untraced paused resumed.");

int
cgr_untraced_init(PyObject *module)
{
    if (PyType_Ready(&UntracedType) < 0 || PyType_Ready(&TracedType) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Untraced", (PyObject *)&UntracedType) < 0 ||
        PyModule_AddObjectRef(module, "Traced", (PyObject *)&TracedType) < 0) {
        return -1;
    }
    return 0;
}
