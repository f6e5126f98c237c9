/* The recorder's busiest Python hooks in C (recorder/aio.py, recorder/queues.py and recorder/aio_sync.py
 * keep the Python they replace, which runs where this is not built or CHRONODBG_PURE_PYTHON is set).
 *
 * A recorded asyncio program pays, at every step of every task, for the walk
 * down the chain of coroutines the task awaits through (TaskTracker.frames:
 * where it suspended, and what it waits on), and at every callback the loop
 * schedules, for the call_soon wrapper that tells a task's wakeup from the
 * rest and records who woke it (task.wake). A program moving items through
 * a queue.Queue or an asyncio.Queue pays, at every item, for the wrappers of
 * the queue's own `_put` and `_get`, where the puts and gets are recorded,
 * and for the wrapper of the queue's own Condition.notify, which records
 * nothing (Gate skips it for objects decided not the user's).
 * In Python those wrappers were a fifth to a quarter of such programs'
 * recorded time. These do the same steps on the same dicts, and call back
 * into Python for what is met for the first time (a type, a code object).
 *
 * The wrappers are method descriptors (a method of the class they replace
 * the original in, called without a bound method where CPython can): no
 * Python frame stands between the caller and the original.
 */
#include "_hooks.h"

/* How deep a chain of awaiting coroutines is followed (aio._MAX_AWAIT_DEPTH). */
#define MAX_AWAIT_DEPTH 64

static PyObject *s_cr_frame, *s_cr_await, *s_gi_frame, *s_gi_yieldfrom, *s_self, *s_cgr_task, *s_cgr, *s_active,
    *s_emit, *s_dropped, *s_cgr_oid, *s_cgr_in, *s_summariser, *s_safe_value, *s_qsize, *s_queue, *s_queue_items;

/* dict.get(key), else decide(argument) (the Python hooks' `known = d.get(k); if known is None: known = decide(...)`),
 * taken as a truth: 1, 0, or -1 with an error set. */
static int
truth_of(PyObject *dict, PyObject *key, PyObject *decide, PyObject *argument)
{
    PyObject *known = PyDict_GetItemWithError(dict, key);
    if (known != NULL) {
        return PyObject_IsTrue(known);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *answer = PyObject_CallOneArg(decide, argument);
    if (answer == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    return truth;
}

/* by_code.get(id(code)), else code_is_user(code). */
static int
is_user_code(PyObject *by_code, PyObject *code_is_user, PyCodeObject *code)
{
    PyObject *key = PyLong_FromVoidPtr(code);
    if (key == NULL) {
        return -1;
    }
    int truth = truth_of(by_code, key, code_is_user, (PyObject *)code);
    Py_DECREF(key);
    return truth;
}

/* await_frames(coro, by_code, code_is_user) -> (innermost user frame, innermost frame): TaskTracker.frames. */
static PyObject *
await_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "await_frames(coro, by_code: dict, code_is_user)");
        return NULL;
    }
    PyObject *node = Py_NewRef(args[0]);
    PyObject *user = Py_NewRef(Py_None), *inner = Py_NewRef(Py_None);
    for (int depth = 0; depth < MAX_AWAIT_DEPTH; depth++) {
        PyObject *frame_name, *next_name;
        if (PyCoro_CheckExact(node)) {
            frame_name = s_cr_frame;
            next_name = s_cr_await;
        }
        else if (PyGen_CheckExact(node)) {
            frame_name = s_gi_frame;
            next_name = s_gi_yieldfrom;
        }
        else {
            break;
        }
        PyObject *frame = PyObject_GetAttr(node, frame_name);
        if (frame == NULL) {
            goto failed;
        }
        if (!PyFrame_Check(frame)) { /* None: it has finished */
            Py_DECREF(frame);
            break;
        }
        PyObject *next = PyObject_GetAttr(node, next_name);
        if (next == NULL) {
            Py_DECREF(frame);
            goto failed;
        }
        Py_SETREF(node, next);
        PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
        int mine = is_user_code(args[1], args[2], code);
        Py_DECREF(code);
        if (mine < 0) {
            Py_DECREF(frame);
            goto failed;
        }
        if (mine) {
            Py_SETREF(user, Py_NewRef(frame));
        }
        Py_SETREF(inner, frame);
        if (node == Py_None) {
            break;
        }
    }
    Py_DECREF(node);
    PyObject *pair = PyTuple_Pack(2, user, inner);
    Py_DECREF(user);
    Py_DECREF(inner);
    return pair;

failed:
    Py_DECREF(node);
    Py_DECREF(user);
    Py_DECREF(inner);
    return NULL;
}

/* ---- What the wrappers share: a method standing in for an original ----------------------- */

/* Every wrapper's: its type's tp_clear drops what it holds. */
void
wrapper_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    Py_TYPE(op)->tp_clear(op);
    Py_TYPE(op)->tp_free(op);
}

/* A method: obj.method binds obj (and with METH_DESCRIPTOR, method calls skip the binding). */
PyObject *
wrapper_get(PyObject *op, PyObject *obj, PyObject *type)
{
    (void)type;
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(op);
    }
    return PyMethod_New(op, obj);
}

/* __doc__, __name__, __qualname__ and __module__ are the original's; __wrapped__ is the original. */
static PyObject *
wrapper_original_attribute(PyObject *op, void *name)
{
    PyObject *original = ((Wrapper *)op)->original;
    if (original == NULL) {
        Py_RETURN_NONE;
    }
    if (name == NULL) {
        return Py_NewRef(original);
    }
    return PyObject_GetAttrString(original, (const char *)name);
}

/* `_cgr`: True, the mark by which the recorder knows a method it has wrapped already. */
static PyObject *
wrapper_mark(PyObject *op, void *unused)
{
    (void)op;
    (void)unused;
    Py_RETURN_TRUE;
}

PyGetSetDef wrapper_getset[] = {
    {"__doc__", wrapper_original_attribute, NULL, NULL, "__doc__"},
    {"__name__", wrapper_original_attribute, NULL, NULL, "__name__"},
    {"__qualname__", wrapper_original_attribute, NULL, NULL, "__qualname__"},
    {"__module__", wrapper_original_attribute, NULL, NULL, "__module__"},
    {"__wrapped__", wrapper_original_attribute, NULL, NULL, NULL},
    {"_cgr", wrapper_mark, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* rec.dropped += 1, the Python hooks' `except Exception` (a failure there never reaches the program). */
static void
count_dropped(PyObject *rec)
{
    PyObject *count = PyObject_GetAttr(rec, s_dropped);
    PyObject *one = count == NULL ? NULL : PyLong_FromLong(1);
    PyObject *more = one == NULL ? NULL : PyNumber_Add(count, one);
    if (more != NULL) {
        PyObject_SetAttr(rec, s_dropped, more);
    }
    Py_XDECREF(more);
    Py_XDECREF(one);
    Py_XDECREF(count);
    PyErr_Clear();
}

/* Whether rec.active: 1, 0, or -1 with an error set. */
static int
recording(PyObject *rec)
{
    PyObject *active = PyObject_GetAttr(rec, s_active);
    int on = active == NULL ? -1 : PyObject_IsTrue(active);
    Py_XDECREF(active);
    return on;
}

/* ---- The loop's call_soon, recorded ------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *original;     /* BaseEventLoop.call_soon */
    PyObject *rec;          /* the Recorder: its `active`, `emit` and `dropped` */
    PyObject *step_types;   /* type -> whether a callback of it can be a task's step (aio's step_callbacks) */
    PyObject *is_step_type; /* decides that for a type met for the first time, and remembers it */
    PyObject *task_types;   /* TaskTracker.is_task_type */
    PyObject *is_task;      /* TaskTracker.is_task */
    PyObject *running;      /* Recorder.running_tasks: thread ident -> the task it runs */
    PyObject *future_types; /* TaskTracker.future_types */
    PyObject *wake_kind;    /* Kind.TASK_WAKE */
} CallSoon;

/* getattr(obj, name, None) as a new reference, or NULL with an error set. Most futures and many tasks have no
   such attribute: the lookup that does not make an AttributeError to clear it saves a few percent of a busy loop. */
static PyObject *
attribute_or_none(PyObject *obj, PyObject *name)
{
    PyObject *value = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyObject_GetOptionalAttr(obj, name, &value);
#else
    int found = _PyObject_LookupAttr(obj, name, &value);
#endif
    if (found < 0) {
        return NULL;
    }
    return found ? value : Py_NewRef(Py_None);
}

/* The recorded task id of the task whose wakeup or step `callback` is (a new reference), None when it is none. */
static PyObject *
task_id_of(CallSoon *self, PyObject *callback)
{
    PyObject *cls = (PyObject *)Py_TYPE(callback);
    int step = truth_of(self->step_types, cls, self->is_step_type, cls);
    if (step <= 0) {
        return step < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *task = PyObject_GetAttr(callback, s_self);
    if (task == NULL) {
        return NULL;
    }
    int is_task = truth_of(self->task_types, (PyObject *)Py_TYPE(task), self->is_task, task);
    PyObject *tid = is_task <= 0 ? (is_task < 0 ? NULL : Py_NewRef(Py_None)) : attribute_or_none(task, s_cgr_task);
    Py_DECREF(task);
    return tid;
}

/* The recorded object a future stands for (its `_cgr` mark, see aio_links), or None; a new reference. */
static PyObject *
marked_object(CallSoon *self, PyObject *future)
{
    int known = PySet_Contains(self->future_types, (PyObject *)Py_TYPE(future));
    if (known <= 0) {
        return known < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *mark = attribute_or_none(future, s_cgr);
    if (mark == NULL) {
        return NULL;
    }
    PyObject *obj = Py_None;
    if (PyTuple_Check(mark) && PyTuple_GET_SIZE(mark) == 3 && PyLong_Check(PyTuple_GET_ITEM(mark, 1))) {
        obj = PyTuple_GET_ITEM(mark, 1);
    }
    Py_INCREF(obj);
    Py_DECREF(mark);
    return obj;
}

/* A task's wakeup scheduled by someone other than the task itself: record task.wake (TaskTracker.woken). */
static int
note_wake(CallSoon *self, PyObject *callback, PyObject *future)
{
    int on = recording(self->rec);
    if (on <= 0) {
        return on;
    }
    PyObject *tid = task_id_of(self, callback);
    if (tid == NULL) {
        return -1;
    }
    int result = -1;
    PyObject *ident = NULL, *obj = NULL, *data = NULL, *emit = NULL;
    int wanted = PyObject_IsTrue(tid);
    if (wanted <= 0) {
        result = wanted;
        goto done;
    }
    ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    if (ident == NULL) {
        goto done;
    }
    PyObject *current = PyDict_GetItemWithError(self->running, ident);
    if (current == NULL && PyErr_Occurred()) {
        goto done;
    }
    int itself = current == NULL ? 0 : PyObject_RichCompareBool(current, tid, Py_EQ);
    if (itself != 0) {
        result = itself < 0 ? -1 : 0;
        goto done;
    }
    obj = marked_object(self, future);
    data = obj == NULL ? NULL : PyTuple_Pack(1, tid);
    emit = data == NULL ? NULL : PyObject_GetAttr(self->rec, s_emit);
    if (emit != NULL) {
        /* The frame that scheduled it: our callers are C (a future's callbacks) or that frame itself. */
        PyFrameObject *frame = PyEval_GetFrame();
        PyObject *call[5] = {self->wake_kind, obj, data, frame != NULL ? (PyObject *)frame : Py_None, Py_False};
        PyObject *none = PyObject_Vectorcall(emit, call, 5, NULL);
        result = none == NULL ? -1 : 0;
        Py_XDECREF(none);
    }

done:
    Py_DECREF(tid);
    Py_XDECREF(ident);
    Py_XDECREF(obj);
    Py_XDECREF(data);
    Py_XDECREF(emit);
    return result;
}

static PyObject *
CallSoon_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    CallSoon *self = (CallSoon *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    /* (loop, callback, *args): a bad call is the original's to refuse, with its own message. */
    if (nargs >= 2 && note_wake(self, args[1], nargs >= 3 ? args[2] : Py_None) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return NULL;
        }
        PyErr_Clear();
        count_dropped(self->rec);
    }
    return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
}

static int
CallSoon_init(CallSoon *self, PyObject *args, PyObject *kwds)
{
    (void)kwds;
    PyObject *original, *rec, *step_types, *is_step_type, *task_types, *is_task, *running, *future_types, *wake_kind;
    if (!PyArg_ParseTuple(args, "OOO!OO!OO!O!O:CallSoon", &original, &rec, &PyDict_Type, &step_types, &is_step_type,
                          &PyDict_Type, &task_types, &is_task, &PyDict_Type, &running, &PyFrozenSet_Type, &future_types,
                          &wake_kind)) {
        return -1;
    }
    Py_XSETREF(self->original, Py_NewRef(original));
    Py_XSETREF(self->rec, Py_NewRef(rec));
    Py_XSETREF(self->step_types, Py_NewRef(step_types));
    Py_XSETREF(self->is_step_type, Py_NewRef(is_step_type));
    Py_XSETREF(self->task_types, Py_NewRef(task_types));
    Py_XSETREF(self->is_task, Py_NewRef(is_task));
    Py_XSETREF(self->running, Py_NewRef(running));
    Py_XSETREF(self->future_types, Py_NewRef(future_types));
    Py_XSETREF(self->wake_kind, Py_NewRef(wake_kind));
    self->vectorcall = CallSoon_vectorcall;
    return 0;
}

static int
CallSoon_traverse(CallSoon *self, visitproc visit, void *arg)
{
    Py_VISIT(self->original);
    Py_VISIT(self->rec);
    Py_VISIT(self->step_types);
    Py_VISIT(self->is_step_type);
    Py_VISIT(self->task_types);
    Py_VISIT(self->is_task);
    Py_VISIT(self->running);
    Py_VISIT(self->future_types);
    Py_VISIT(self->wake_kind);
    return 0;
}

static int
CallSoon_clear(CallSoon *self)
{
    Py_CLEAR(self->original);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->step_types);
    Py_CLEAR(self->is_step_type);
    Py_CLEAR(self->task_types);
    Py_CLEAR(self->is_task);
    Py_CLEAR(self->running);
    Py_CLEAR(self->future_types);
    Py_CLEAR(self->wake_kind);
    return 0;
}

static PyTypeObject CallSoonType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hooks.CallSoon",
    .tp_basicsize = sizeof(CallSoon),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)CallSoon_init,
    .tp_dealloc = wrapper_dealloc,
    .tp_traverse = (traverseproc)CallSoon_traverse,
    .tp_clear = (inquiry)CallSoon_clear,
    .tp_vectorcall_offset = offsetof(CallSoon, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = wrapper_get,
    .tp_getset = wrapper_getset,
};

/* ---- A queue's own _put and _get, recorded ------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *original; /* the class's own _put or _get */
    PyObject *rec;
    PyObject *kind;     /* Kind.QUEUE_PUT or Kind.QUEUE_GET */
    int gets;           /* the item is what the original returns (a _get), else its argument (a _put) */
    /* queue.Queue's: `_cgr_in` set on the queue while the original runs, so that
     * a subclass's _put calling its base's (both wrapped) records one put. */
    int guarded;
    /* queue.Queue's shape: the standard library's own _qsize functions (a set
     * kept by recorder.sync), the size is len(self.queue) where the queue's
     * class has one of them, else None; None: asyncio.Queue's, len(self._queue). */
    PyObject *sizes;
} StorageHook;

/* A length of the queue's attribute `name` (its storage), or NULL with an error set. */
static PyObject *
storage_length(PyObject *queue, PyObject *name)
{
    PyObject *storage = PyObject_GetAttr(queue, name);
    Py_ssize_t length = storage == NULL ? -1 : PyObject_Size(storage);
    Py_XDECREF(storage);
    return length < 0 ? NULL : PyLong_FromSsize_t(length);
}

/* recorder.sync.queue_size: a class's own _qsize is the program's code, which the recorder does not run. */
static PyObject *
library_size(PyObject *sizes, PyObject *queue)
{
    PyObject *qsize = PyObject_GetAttr((PyObject *)Py_TYPE(queue), s_qsize);
    int library = qsize == NULL ? -1 : PySet_Contains(sizes, qsize);
    Py_XDECREF(qsize);
    if (library <= 0) {
        return library < 0 ? NULL : Py_NewRef(Py_None);
    }
    return storage_length(queue, s_queue_items);
}

/* The queue's recorded id (`_cgr_oid` in its own __dict__, as the Python wrappers read it), or NULL: not recorded. */
static PyObject *
queue_id(PyObject *queue, PyObject **dict)
{
    *dict = PyObject_GenericGetDict(queue, NULL);
    if (*dict == NULL) {
        return NULL;
    }
    PyObject *oid = PyDict_GetItemWithError(*dict, s_cgr_oid);
    if (oid == NULL) {
        return NULL;
    }
    int truth = PyObject_IsTrue(oid);
    return truth > 0 ? oid : NULL;
}

static int
record_move(StorageHook *self, PyObject *queue, PyObject *oid, PyObject *item)
{
    PyObject *summariser = PyObject_GetAttr(self->rec, s_summariser);
    PyObject *summary = summariser == NULL ? NULL : PyObject_CallMethodOneArg(summariser, s_safe_value, item);
    Py_XDECREF(summariser);
    if (summary == NULL) {
        return -1;
    }
    PyObject *size = self->sizes != Py_None ? library_size(self->sizes, queue) : storage_length(queue, s_queue);
    PyObject *data = size == NULL ? NULL : PyTuple_Pack(2, summary, size);
    Py_DECREF(summary);
    Py_XDECREF(size);
    PyObject *emit = data == NULL ? NULL : PyObject_GetAttr(self->rec, s_emit);
    PyObject *none = NULL;
    if (emit != NULL) {
        /* The caller of _put / _get (Queue.put, Queue.get_nowait, ...): the event's site is found from there. */
        PyFrameObject *frame = PyEval_GetFrame();
        PyObject *call[4] = {self->kind, oid, data, frame != NULL ? (PyObject *)frame : Py_None};
        none = PyObject_Vectorcall(emit, call, 4, NULL);
        Py_DECREF(emit);
    }
    Py_XDECREF(data);
    Py_XDECREF(none);
    return none == NULL ? -1 : 0;
}

static PyObject *
StorageHook_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    StorageHook *self = (StorageHook *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1 || kwnames != NULL || nargs < 2 - self->gets) {
        /* Not a call the queue itself makes: the original's to take or refuse. */
        return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    }
    PyObject *queue = args[0], *dict = NULL, *result = NULL;
    PyObject *oid = queue_id(queue, &dict);
    int on = oid == NULL ? 0 : recording(self->rec);
    if (on > 0 && self->guarded) {
        PyObject *inside = PyDict_GetItemWithError(dict, s_cgr_in);
        on = inside == NULL ? (PyErr_Occurred() ? -1 : 1) : !PyObject_IsTrue(inside);
    }
    if (on <= 0) {
        Py_XDECREF(dict);
        return on < 0 || PyErr_Occurred() ? NULL : PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    }
    Py_INCREF(oid); /* the dict may change while the original runs */
    if (self->guarded && PyDict_SetItem(dict, s_cgr_in, Py_True) < 0) {
        goto done;
    }
    result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    if (self->guarded) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (PyDict_SetItem(dict, s_cgr_in, Py_False) < 0) {
            Py_CLEAR(result);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
            goto done;
        }
        PyErr_Restore(type, value, traceback);
    }
    if (result != NULL && record_move(self, queue, oid, self->gets ? result : args[1]) < 0) {
        Py_CLEAR(result);
    }

done:
    Py_DECREF(oid);
    Py_DECREF(dict);
    return result;
}

static int
StorageHook_init(StorageHook *self, PyObject *args, PyObject *kwds)
{
    (void)kwds;
    PyObject *original, *rec, *kind, *sizes;
    int gets, guarded;
    if (!PyArg_ParseTuple(args, "OOOppO:StorageHook", &original, &rec, &kind, &gets, &guarded, &sizes)) {
        return -1;
    }
    if (sizes != Py_None && !PyAnySet_Check(sizes)) {
        PyErr_SetString(PyExc_TypeError, "sizes must be a set or None");
        return -1;
    }
    Py_XSETREF(self->original, Py_NewRef(original));
    Py_XSETREF(self->rec, Py_NewRef(rec));
    Py_XSETREF(self->kind, Py_NewRef(kind));
    self->gets = gets;
    self->guarded = guarded;
    Py_XSETREF(self->sizes, Py_NewRef(sizes));
    self->vectorcall = StorageHook_vectorcall;
    return 0;
}

static int
StorageHook_traverse(StorageHook *self, visitproc visit, void *arg)
{
    Py_VISIT(self->original);
    Py_VISIT(self->rec);
    Py_VISIT(self->kind);
    Py_VISIT(self->sizes);
    return 0;
}

static int
StorageHook_clear(StorageHook *self)
{
    Py_CLEAR(self->original);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->kind);
    Py_CLEAR(self->sizes);
    return 0;
}

static PyTypeObject StorageHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hooks.StorageHook",
    .tp_basicsize = sizeof(StorageHook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)StorageHook_init,
    .tp_dealloc = wrapper_dealloc,
    .tp_traverse = (traverseproc)StorageHook_traverse,
    .tp_clear = (inquiry)StorageHook_clear,
    .tp_vectorcall_offset = offsetof(StorageHook, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = wrapper_get,
    .tp_getset = wrapper_getset,
    .tp_doc = PyDoc_STR("StorageHook(original, rec, kind, gets, guarded, sizes): a queue's _put or _get, recorded."),
};

/* ---- A method whose Python wrapper has nothing to do for objects decided not the user's ---- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *original; /* the class's method */
    PyObject *wrapper;  /* the recorder's Python wrapper of it */
} Gate;

/* Whether obj's own __dict__ holds `_cgr_oid` == 0: an object the recorder decided is not the user's. */
static int
decided_not_users(PyObject *obj)
{
    PyObject *dict = PyObject_GenericGetDict(obj, NULL);
    if (dict == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *oid = PyDict_GetItemWithError(dict, s_cgr_oid);
    int overflow = 0;
    int zero = oid != NULL && PyLong_Check(oid) && PyLong_AsLongAndOverflow(oid, &overflow) == 0 && !overflow;
    Py_DECREF(dict);
    PyErr_Clear();
    return zero;
}

static PyObject *
Gate_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Gate *self = (Gate *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *target = nargs >= 1 && decided_not_users(args[0]) ? self->original : self->wrapper;
    return PyObject_Vectorcall(target, args, nargsf, kwnames);
}

static int
Gate_init(Gate *self, PyObject *args, PyObject *kwds)
{
    (void)kwds;
    PyObject *original, *wrapper;
    if (!PyArg_ParseTuple(args, "OO:Gate", &original, &wrapper)) {
        return -1;
    }
    Py_XSETREF(self->original, Py_NewRef(original));
    Py_XSETREF(self->wrapper, Py_NewRef(wrapper));
    self->vectorcall = Gate_vectorcall;
    return 0;
}

static int
Gate_traverse(Gate *self, visitproc visit, void *arg)
{
    Py_VISIT(self->original);
    Py_VISIT(self->wrapper);
    return 0;
}

static int
Gate_clear(Gate *self)
{
    Py_CLEAR(self->original);
    Py_CLEAR(self->wrapper);
    return 0;
}

static PyTypeObject GateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hooks.Gate",
    .tp_basicsize = sizeof(Gate),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Gate_init,
    .tp_dealloc = wrapper_dealloc,
    .tp_traverse = (traverseproc)Gate_traverse,
    .tp_clear = (inquiry)Gate_clear,
    .tp_vectorcall_offset = offsetof(Gate, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = wrapper_get,
    .tp_getset = wrapper_getset,
    .tp_doc = PyDoc_STR("Gate(original, wrapper): the original for objects whose _cgr_oid is 0, else the wrapper."),
};

static PyMethodDef hooks_functions[] = {
    {"await_frames", (PyCFunction)(void (*)(void))await_frames, METH_FASTCALL,
     PyDoc_STR("await_frames(coro, by_code, code_is_user) -> (innermost user frame, innermost frame)")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hooks_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronodbg.recorder._hooks",
    .m_doc = "asyncio's busiest recorder hooks in C (see recorder/aio.py for the Python originals).",
    .m_size = -1,
    .m_methods = hooks_functions,
};

int
cgr_intern(PyObject **slot, const char *text)
{
    if (*slot == NULL) {
        *slot = PyUnicode_InternFromString(text);
    }
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__hooks(void)
{
    if (cgr_intern(&s_cr_frame, "cr_frame") < 0 || cgr_intern(&s_cr_await, "cr_await") < 0 ||
        cgr_intern(&s_gi_frame, "gi_frame") < 0 || cgr_intern(&s_gi_yieldfrom, "gi_yieldfrom") < 0 ||
        cgr_intern(&s_self, "__self__") < 0 || cgr_intern(&s_cgr_task, "_cgr_task") < 0 ||
        cgr_intern(&s_cgr, "_cgr") < 0 || cgr_intern(&s_active, "active") < 0 || cgr_intern(&s_emit, "emit") < 0 ||
        cgr_intern(&s_dropped, "dropped") < 0 || cgr_intern(&s_cgr_oid, "_cgr_oid") < 0 ||
        cgr_intern(&s_cgr_in, "_cgr_in") < 0 || cgr_intern(&s_summariser, "summariser") < 0 ||
        cgr_intern(&s_safe_value, "safe_value") < 0 || cgr_intern(&s_qsize, "_qsize") < 0 ||
        cgr_intern(&s_queue, "_queue") < 0 || cgr_intern(&s_queue_items, "queue") < 0) {
        return NULL;
    }
    if (PyType_Ready(&CallSoonType) < 0 || PyType_Ready(&StorageHookType) < 0 || PyType_Ready(&GateType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&hooks_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "CallSoon", (PyObject *)&CallSoonType) < 0 ||
        PyModule_AddObjectRef(module, "StorageHook", (PyObject *)&StorageHookType) < 0 ||
        PyModule_AddObjectRef(module, "Gate", (PyObject *)&GateType) < 0 || cgr_watch_init(module) < 0 ||
        cgr_untraced_init(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
