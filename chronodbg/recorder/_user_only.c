/* UserOnly: the exception callbacks of the sys.monitoring tracer, gated in C.
 *
 * RAISE, RERAISE, EXCEPTION_HANDLED, PY_UNWIND and PY_THROW cannot be
 * switched on per code object, and a callback may not DISABLE them: every
 * exception anywhere reaches the tracer. asyncio raises and catches several
 * per message in its own code (StopIteration out of Lock.acquire and
 * Queue.put, GeneratorExit through the generator Lock.acquire closes), and
 * each went into a Python callback only to find its code not the user's.
 * This answers those from CodeEvents.traced (id(code) -> user code?) and
 * calls the Python callback for the rest: the user's code, and code not
 * judged yet, which the callback judges as before.
 */
#include "_frame_events.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *traced;   /* CodeEvents.traced */
    PyObject *callback; /* the Python callback */
} UserOnly;

static PyObject *
UserOnly_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    UserOnly *self = (UserOnly *)op;
    if (PyVectorcall_NARGS(nargsf) >= 1 && kwnames == NULL) {
        PyObject *key = PyLong_FromVoidPtr(args[0]);
        if (key == NULL) {
            return NULL;
        }
        PyObject *known = PyDict_GetItemWithError(self->traced, key);
        Py_DECREF(key);
        if (known == Py_False) {
            Py_RETURN_NONE;
        }
        if (known == NULL && PyErr_Occurred()) {
            return NULL;
        }
    }
    return PyObject_Vectorcall(self->callback, args, nargsf, kwnames);
}

static PyObject *
UserOnly_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *traced, *callback;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "UserOnly() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!O:UserOnly", &PyDict_Type, &traced, &callback)) {
        return NULL;
    }
    if (!PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "UserOnly: the callback is not callable");
        return NULL;
    }
    UserOnly *self = (UserOnly *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = UserOnly_vectorcall;
    self->traced = Py_NewRef(traced);
    self->callback = Py_NewRef(callback);
    return (PyObject *)self;
}

static int
UserOnly_traverse(UserOnly *self, visitproc visit, void *arg)
{
    Py_VISIT(self->traced);
    Py_VISIT(self->callback);
    return 0;
}

static int
UserOnly_clear(UserOnly *self)
{
    Py_CLEAR(self->traced);
    Py_CLEAR(self->callback);
    return 0;
}

static void
UserOnly_dealloc(UserOnly *self)
{
    PyObject_GC_UnTrack(self);
    UserOnly_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject cgr_UserOnlyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.UserOnly",
    .tp_basicsize = sizeof(UserOnly),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(UserOnly, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = UserOnly_new,
    .tp_traverse = (traverseproc)UserOnly_traverse,
    .tp_clear = (inquiry)UserOnly_clear,
    .tp_dealloc = (destructor)UserOnly_dealloc,
    .tp_doc = PyDoc_STR("UserOnly(traced, callback): calls callback(code, ...) unless traced[id(code)] is False."),
};
