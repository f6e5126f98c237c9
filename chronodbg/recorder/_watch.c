/* Watchdog.feed's loop in C (recorder/watchdog.py keeps the Python it replaces).
 *
 * The writer thread hands every batch of events to the deadlock watchdog,
 * which keeps who holds each lock and which task waits on what. Lock, queue
 * and task traffic is most of a busy program's events, so the loop over
 * them was a tenth of W1's recorded time in Python (a few dict writes per
 * event, but with the GIL held, so the program's threads wait for it). This
 * does the same steps on the watchdog's own dicts, and calls its Python
 * methods, in order, for every event it does not handle itself: a thread's
 * wait beginning or ending, a task's end, a thread's end.
 */
#include "_hooks.h"
#include "_event.h"

enum { ACQUIRE, RELEASE, PUT, GET, RESUME, SUSPEND, WAKE, DONE, KIND_COUNT };

static PyObject *s_holder, *s_held_since, *s_woken_at, *s_thread_waits, *s_task_waits, *s_apply, *s_task_done,
    *s_other, *s_question, *s_one;

/* Item `i` of an event's data (a tuple when the recorder made it): a new reference. */
static PyObject *
item(PyObject *data, Py_ssize_t i)
{
    if (PyTuple_CheckExact(data) && i < PyTuple_GET_SIZE(data)) {
        return Py_NewRef(PyTuple_GET_ITEM(data, i));
    }
    return PySequence_GetItem(data, i);
}

/* d.pop(key, None), its result dropped: 0, or -1 on error. */
static int
discard(PyObject *d, PyObject *key)
{
    /* One lookup where there were two (contains, then delete): a lock's
     * holder goes at each release. */
#if PY_VERSION_HEX >= 0x030D0000
    return PyDict_Pop(d, key, NULL) < 0 ? -1 : 0;
#else
    PyObject *value = _PyDict_Pop(d, key, Py_None);
    Py_XDECREF(value);
    return value == NULL ? -1 : 0;
#endif
}

/* callback(event, seq): 0, or -1 on error. */
static int
call2(PyObject *callback, PyObject *event, PyObject *seq)
{
    PyObject *args[2] = {event, seq};
    PyObject *result = PyObject_Vectorcall(callback, args, 2, NULL);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* A task's wait: task_waits[task] = (awaits or "?", obj, seq, site, timeout is not None, target, thread). */
static int
suspended(PyObject *task_waits, PyObject *const *f, PyObject *seq)
{
    PyObject *task = f[2];
    if (task == Py_None) {
        return 0;
    }
    /* awaits, target, timeout = (tuple(data) + (None, None, None))[:3] */
    PyObject *data = PySequence_Tuple(f[6]);
    if (data == NULL) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(data);
    PyObject *awaits = n > 0 ? PyTuple_GET_ITEM(data, 0) : Py_None;
    PyObject *target = n > 1 ? PyTuple_GET_ITEM(data, 1) : Py_None;
    PyObject *timeout = n > 2 ? PyTuple_GET_ITEM(data, 2) : Py_None;
    int named = PyObject_IsTrue(awaits);
    PyObject *wait = named < 0 ? NULL
                               : PyTuple_Pack(7, named ? awaits : s_question, f[4], seq, f[5],
                                              timeout != Py_None ? Py_True : Py_False, target, f[1]);
    Py_DECREF(data);
    int failed = wait == NULL || PyDict_SetItem(task_waits, task, wait) < 0;
    Py_XDECREF(wait);
    return failed ? -1 : 0;
}

typedef struct {
    PyObject *holder, *held_since, *woken_at, *thread_waits, *task_waits, *apply, *task_done, *other;
} Model;

/* One event of a kind fed here (`k`), its items 1 to 7 at f[1] to f[7]: 0, or -1 on error. */
static int
feed_one(const Model *m, int k, PyObject *event, PyObject *const *f, long long n)
{
    PyObject *tid = f[1], *obj = f[4], *data = f[6];
    /* The event's seq as an int, made only where it is kept or passed on
     * (not for a release, a resume or a wake). */
    PyObject *seq = NULL;
    int result, waiting;
    switch (k) {
    case ACQUIRE: {
        PyObject *depth = item(data, 1);
        int first = depth == NULL ? -1 : PyObject_RichCompareBool(depth, s_one, Py_EQ);
        Py_XDECREF(depth);
        if (first < 0) {
            return -1;
        }
        seq = PyLong_FromLongLong(n);
        if (seq == NULL || (first && (PyDict_SetItem(m->holder, obj, event) < 0 ||
                                      PyDict_SetItem(m->held_since, obj, seq) < 0))) {
            result = -1;
            break;
        }
        waiting = PyDict_Contains(m->thread_waits, tid);
        result = waiting <= 0 ? waiting : call2(m->apply, event, seq);
        break;
    }
    case RELEASE: {
        PyObject *left = item(data, 0);
        int still = left == NULL ? -1 : PyObject_IsTrue(left);
        Py_XDECREF(left);
        if (still != 0) {
            return still < 0 ? -1 : 0;
        }
        return discard(m->holder, obj) < 0 || discard(m->held_since, obj) < 0 ? -1 : 0;
    }
    case PUT:
    case GET:
        waiting = PyDict_Contains(m->thread_waits, tid);
        if (waiting < 0 || (waiting == 0 && obj == Py_None)) {
            return waiting;
        }
        seq = PyLong_FromLongLong(n);
        if (seq == NULL) {
            return -1;
        }
        result = waiting ? call2(m->apply, event, seq) : PyDict_SetItem(m->woken_at, obj, seq);
        break;
    case RESUME: {
        PyObject *task = f[2];
        return task == Py_None ? 0 : discard(m->task_waits, task);
    }
    case WAKE: {
        PyObject *task = item(data, 0);
        int failed = task == NULL || discard(m->task_waits, task) < 0;
        Py_XDECREF(task);
        return failed ? -1 : 0;
    }
    case DONE: {
        PyObject *done = PyObject_CallOneArg(m->task_done, f[2]);
        Py_XDECREF(done);
        return done == NULL ? -1 : 0;
    }
    default:
        seq = PyLong_FromLongLong(n);
        if (seq == NULL) {
            return -1;
        }
        result = k == SUSPEND ? suspended(m->task_waits, f, seq) : call2(m->other, event, seq);
        break;
    }
    Py_XDECREF(seq);
    return result;
}

/* watch_feed(watchdog, batch, first_seq, kinds, watched) */
static PyObject *
watch_feed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[1]) || !PyLong_Check(args[2]) || !PyTuple_Check(args[3]) ||
        PyTuple_GET_SIZE(args[3]) != KIND_COUNT || !PyAnySet_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "watch_feed(watchdog, batch: list, first_seq: int, kinds: tuple of 8, watched: set)");
        return NULL;
    }
    PyObject *watchdog = args[0], *batch = args[1], *kinds = args[3], *watched = args[4];
    Model m = {0};
    PyObject **fields[] = {&m.holder, &m.held_since, &m.woken_at, &m.thread_waits, &m.task_waits,
                           &m.apply, &m.task_done, &m.other};
    PyObject *names[] = {s_holder, s_held_since, s_woken_at, s_thread_waits, s_task_waits, s_apply, s_task_done, s_other};
    PyObject *result = NULL;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        *fields[i] = PyObject_GetAttr(watchdog, names[i]);
        if (*fields[i] == NULL) {
            goto done;
        }
        if (i < 5 && !PyDict_CheckExact(*fields[i])) {
            PyErr_Format(PyExc_TypeError, "Watchdog.%U is not a dict", names[i]);
            goto done;
        }
    }
    long long first = PyLong_AsLongLong(args[2]);
    if (first == -1 && PyErr_Occurred()) {
        goto done;
    }
    PyTypeObject *event_type = cgr_event_type();
    /* The batch may not change under us: the program's threads append to another list. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *event = PyList_GET_ITEM(batch, i);
        PyObject *const *f = cgr_event_items(event, event_type);
        if (f == NULL) {
            PyErr_SetString(PyExc_TypeError, "an event is an 8-tuple or the C emit's event");
            goto done;
        }
        PyObject *kind = f[3];
        int k = 0;
        while (k < KIND_COUNT && PyTuple_GET_ITEM(kinds, k) != kind) {
            k++;
        }
        if (k == KIND_COUNT) {
            int seen = PySet_Contains(watched, kind);
            if (seen <= 0) {
                if (seen < 0) {
                    goto done;
                }
                continue;
            }
        }
        Py_INCREF(event);
        PyObject *as_tuple = NULL;
        if (f[6] == NULL) {
            /* Data kept in the event itself (_event.h): read the event as its tuple. */
            as_tuple = PySequence_Tuple(event);
            f = as_tuple == NULL ? NULL : ((PyTupleObject *)as_tuple)->ob_item;
        }
        int failed = f == NULL || feed_one(&m, k, event, f, first + i) < 0;
        Py_XDECREF(as_tuple);
        Py_DECREF(event);
        if (failed) {
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        Py_XDECREF(*fields[i]);
    }
    return result;
}

static PyMethodDef watch_methods[] = {
    {"watch_feed", (PyCFunction)(void (*)(void))watch_feed, METH_FASTCALL,
     PyDoc_STR("watch_feed(watchdog, batch, first_seq, kinds, watched): Watchdog.feed's loop over a batch of events\n"
               "(kinds: the lock acquire, release, queue put, get, task resume, suspend, wake and done kinds)")},
    {NULL},
};

int
cgr_watch_init(PyObject *module)
{
    if (cgr_intern(&s_holder, "holder") < 0 || cgr_intern(&s_held_since, "held_since") < 0 ||
        cgr_intern(&s_woken_at, "woken_at") < 0 || cgr_intern(&s_thread_waits, "thread_waits") < 0 ||
        cgr_intern(&s_task_waits, "task_waits") < 0 || cgr_intern(&s_apply, "_apply") < 0 ||
        cgr_intern(&s_task_done, "_task_done") < 0 || cgr_intern(&s_other, "_other") < 0 ||
        cgr_intern(&s_question, "?") < 0) {
        return -1;
    }
    if (s_one == NULL && (s_one = PyLong_FromLong(1)) == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, watch_methods);
}
