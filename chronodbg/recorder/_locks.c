/*
 * The recorded Lock's and RLock's hot methods in C (issue 8).
 *
 * `RecordedLock` and `RecordedRLock` (chronodbg/recorder/locks.py) are Python
 * classes. Where this extension is built, their base class is `LockCore` or
 * `RLockCore` from here, which holds the wrapped lock, its object id and the
 * recorder (the `_lock`, `_oid`, `_rec` attributes, and `_depth` for the
 * RLock) and implements `acquire()` without arguments, `__enter__`, `release`
 * and `__exit__`: every `with lock:` of the program. Each does the steps of
 * the Python method of the same name in locks.py (`_acquire_py`,
 * `_release_py`), in the same order; anything else (arguments to acquire, an
 * attribute not set yet, contention) calls back into that Python.
 *
 * Why in C: the Python methods cost a frame and a dozen attribute lookups per
 * call, about half a microsecond per `with lock:`, and while a thread is
 * inside them it holds the lock. A longer critical section makes the GIL's
 * switch interval land inside it more often, and then every other thread
 * that wants the lock queues behind it (a convoy).
 *
 * Packing between locks: a thread that has just released a recorded lock
 * while no other is held packs the buffered events itself once a chunk's
 * worth is there (Recorder.pack_a_chunk). `held_now` counts the
 * recorded locks held, by any thread: a lock counts from an acquire recorded
 * to the release that frees it (its `counted` flag), so a lock taken before
 * recording began, or freed by another thread, is counted right.
 * locks.py keeps the same count for the Python classes.
 *
 * Tracebacks: a C method adds no traceback entry, so an exception reaches
 * the caller with the traceback it would have unrecorded, as the Python
 * methods arrange by removing their own entry.
 *
 * Only API that CPython 3.11, 3.12 and 3.13 all have publicly is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_chain.h"

#ifdef Py_GIL_DISABLED
#error "chronodbg's lock core needs the GIL"
#endif

/* Set once by configure() from locks.py. */
static PyObject *kind_acquire, *kind_release;
static PyObject *contended;      /* locks._contended */
static PyObject *release_data;   /* (0,) */
static PyObject *acquire_data;   /* (0, 1): an acquire that did not wait, depth 1 */
static PyObject *str_active, *str_emit, *str_acquire, *str_release, *str_locked, *str_is_owned;
static PyObject *str_acquire_py, *str_release_py;

typedef struct {
    PyObject_HEAD
    PyObject *lock;      /* the _thread lock or RLock */
    PyObject *oid;       /* its object id in the log (int) */
    PyObject *rec;       /* the Recorder, or the idle stand-in */
    Py_ssize_t depth;    /* RLockCore only: the recorded recursion depth */
    PyObject *weakrefs;
    char counted;        /* counts in held_now */
} LockCore;

/* Recorded locks (of these types) held now, by any thread. */
static Py_ssize_t held_now = 0;
/* set_packer(): the recorder's event buffer and its pack_a_chunk, or NULL. */
static PyObject *pack_buffer = NULL, *pack_call = NULL;
/* Pack once the buffer holds pack_next events: pack_every, or later after a call that left it full. */
static Py_ssize_t pack_every = 0, pack_next = 0;

static void
count_lock(LockCore *self, int held)
{
    if (held && !self->counted) {
        self->counted = 1;
        held_now += 1;
    }
    else if (!held && self->counted) {
        self->counted = 0;
        held_now -= 1;
    }
}

/* After a release: with no recorded lock held and a chunk's worth buffered,
 * this thread packs. 0, or -1 with an exception set (a KeyboardInterrupt
 * while it waits for the packer in another thread). */
static int
pack_between_locks(void)
{
    if (held_now > 0 || pack_buffer == NULL) {
        return 0;
    }
    Py_ssize_t size = PyList_GET_SIZE(pack_buffer);
    if (size < pack_every) {
        pack_next = pack_every;
        return 0;
    }
    if (size < pack_next) {
        return 0;
    }
    PyObject *call = Py_NewRef(pack_call), *buffer = Py_NewRef(pack_buffer);
    PyObject *result = PyObject_CallNoArgs(call);
    /* Not packed (recording stopped, or this thread is the packer): not again at every release. */
    Py_ssize_t left = PyList_GET_SIZE(buffer);
    pack_next = left < pack_every ? pack_every : left + pack_every / 4;
    Py_DECREF(call);
    Py_DECREF(buffer);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
core_traverse(LockCore *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->lock);
    Py_VISIT(self->oid);
    Py_VISIT(self->rec);
    return 0;
}

static int
core_clear(LockCore *self)
{
    Py_CLEAR(self->lock);
    Py_CLEAR(self->oid);
    Py_CLEAR(self->rec);
    return 0;
}

static void
core_dealloc(LockCore *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    core_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* The Python method `name` of self with these arguments (the slow path). */
static PyObject *
call_python(LockCore *self, PyObject *name, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *method = PyObject_GetAttr((PyObject *)self, name);
    if (method == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(method, args, nargs, kwnames);
    Py_DECREF(method);
    return result;
}

/* rec.active as a truth value: 1, 0, or -1 with an exception set. */
static int
is_active(PyObject *rec)
{
    PyObject *active = PyObject_GetAttr(rec, str_active);
    if (active == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(active);
    Py_DECREF(active);
    return truth;
}

/* The frame of the code that called the method (`_getframe().f_back` in the
 * Python method): a borrowed reference, Py_None when there is none. */
static PyObject *
caller_frame(void)
{
    PyFrameObject *frame = PyEval_GetFrame();
    return frame != NULL ? (PyObject *)frame : Py_None;
}

/* (depth,): an RLock release's data. */
static PyObject *
depth_data(Py_ssize_t depth)
{
    PyObject *number = PyLong_FromSsize_t(depth);
    PyObject *data = number == NULL ? NULL : PyTuple_Pack(1, number);
    Py_XDECREF(number);
    return data;
}

/* rec.emit(kind, oid, data, frame). Steals `data`. 0, or -1 with an exception set. */
static int
emit(LockCore *self, PyObject *rec, PyObject *kind, PyObject *data)
{
    if (data == NULL) {
        return -1;
    }
    PyObject *call = PyObject_GetAttr(rec, str_emit);
    if (call == NULL) {
        Py_DECREF(data);
        return -1;
    }
    PyObject *args[4] = {kind, self->oid, data, caller_frame()};
    PyObject *result = PyObject_Vectorcall(call, args, 4, NULL);
    Py_DECREF(call);
    Py_DECREF(data);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* lock.<name>(*args[1:]) for args[0] the lock. The _thread locks' types are
 * immutable and their instances have no __dict__, so their methods are found
 * once per type and name rather than looked up at every call. */
typedef struct {
    PyTypeObject *type;
    PyObject *name;
    PyObject *method;
} LockMethod;

#define LOCK_METHODS 8
static LockMethod found_methods[LOCK_METHODS];

static PyObject *
lock_call(PyObject *name, PyObject *const *args, size_t nargs)
{
    PyTypeObject *type = Py_TYPE(args[0]);
    int free_at = -1;
    for (int i = 0; i < LOCK_METHODS; i++) {
        if (found_methods[i].type == type && found_methods[i].name == name) {
            return PyObject_Vectorcall(found_methods[i].method, args, nargs, NULL);
        }
        if (found_methods[i].type == NULL && free_at < 0) {
            free_at = i;
        }
    }
    if (free_at >= 0 && PyType_HasFeature(type, Py_TPFLAGS_IMMUTABLETYPE) && type->tp_dictoffset == 0) {
        PyObject *method = PyObject_GetAttr((PyObject *)type, name);
        if (method == NULL) {
            PyErr_Clear();
        }
        else if (Py_IS_TYPE(method, &PyMethodDescr_Type)) {
            found_methods[free_at].type = (PyTypeObject *)Py_NewRef(type);
            found_methods[free_at].name = Py_NewRef(name);
            found_methods[free_at].method = method;
            return PyObject_Vectorcall(method, args, nargs, NULL);
        }
        else {
            Py_DECREF(method);
        }
    }
    return PyObject_VectorcallMethod(name, args, nargs, NULL);
}

/* lock.<name>() and its truth: 1, 0, or -1 with an exception set. */
static int
call_truth(PyObject *lock, PyObject *name, PyObject *arg)
{
    PyObject *args[2] = {lock, arg};
    PyObject *result = lock_call(name, args, arg != NULL ? 2 : 1);
    if (result == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(result);
    Py_DECREF(result);
    return truth;
}

/* lock.release() while an exception is set (the `except: lock.release(); raise`
 * and `finally: lock.release()` of the Python methods): the exception stays,
 * or becomes the context of the one the release raises. Returns NULL. */
static PyObject *
release_keeping_error(PyObject *lock)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *args[1] = {lock};
    PyObject *result = lock_call(str_release, args, 1);
    if (result != NULL) {
        Py_DECREF(result);
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    cgr_chain_context(type, value, tb);
    return NULL;
}

/* acquire() with no arguments: blocking, no timeout. `reentrant` for RLockCore. */
static PyObject *
acquire_default(LockCore *self, int reentrant)
{
    PyObject *lock = self->lock, *rec = self->rec;
    if (lock == NULL || rec == NULL || self->oid == NULL) {
        /* Not initialised: the Python method raises the AttributeError. */
        return call_python(self, str_acquire_py, NULL, 0, NULL);
    }
    /* The callbacks below run Python code, which could replace the attributes. */
    Py_INCREF(lock);
    Py_INCREF(rec);
    PyObject *result = NULL, *waited = NULL;
    int active = is_active(rec);
    if (active < 0) {
        goto done;
    }
    if (!active) {
        PyObject *args[1] = {lock};
        result = lock_call(str_acquire, args, 1);
        if (result != NULL && reentrant) {
            /* if lock.acquire(): self._depth += 1; return True; return False */
            int got = PyObject_IsTrue(result);
            Py_SETREF(result, got < 0 ? NULL : Py_NewRef(got ? Py_True : Py_False));
            if (got > 0) {
                self->depth += 1;
            }
        }
        goto done;
    }
    int got = call_truth(lock, str_acquire, Py_False);
    if (got < 0) {
        goto done;
    }
    if (got && (!reentrant || self->depth == 0)) {
        /* Uncontended at depth 1, nearly every acquire: one shared data tuple. */
        if (reentrant) {
            self->depth = 1;
        }
        if (emit(self, rec, kind_acquire, Py_NewRef(acquire_data)) < 0) {
            if (reentrant) {
                self->depth = 0;
            }
            release_keeping_error(lock);
            goto done;
        }
        count_lock(self, 1);
        result = Py_NewRef(Py_True);
        goto done;
    }
    if (got) {
        waited = PyLong_FromLong(0);
    }
    else {
        PyObject *args[6] = {rec, self->oid, lock, Py_True, NULL, caller_frame()};
        args[4] = PyLong_FromLong(-1);
        if (args[4] == NULL) {
            goto done;
        }
        waited = PyObject_Vectorcall(contended, args, 6, NULL);
        Py_DECREF(args[4]);
        if (waited == Py_None) {
            Py_DECREF(waited);
            result = Py_NewRef(Py_False);
            goto done;
        }
    }
    if (waited == NULL) {
        goto done;
    }
    if (reentrant) {
        self->depth += 1;
    }
    /* (waited, depth); not Py_BuildValue, which parses its format at every call. */
    PyObject *depth = PyLong_FromSsize_t(reentrant ? self->depth : 1);
    PyObject *data = depth == NULL ? NULL : PyTuple_Pack(2, waited, depth);
    Py_XDECREF(depth);
    if (emit(self, rec, kind_acquire, data) < 0) {
        if (reentrant) {
            self->depth -= 1;
        }
        release_keeping_error(lock);
        goto done;
    }
    count_lock(self, 1);
    result = Py_NewRef(Py_True);
done:
    Py_XDECREF(waited);
    Py_DECREF(lock);
    Py_DECREF(rec);
    return result;
}

/* release() / __exit__: record the release while still held, then release. */
static PyObject *
release_now(LockCore *self, int reentrant)
{
    PyObject *lock = self->lock, *rec = self->rec;
    if (lock == NULL || rec == NULL || self->oid == NULL) {
        return call_python(self, str_release_py, NULL, 0, NULL);
    }
    Py_INCREF(lock);
    Py_INCREF(rec);
    PyObject *result = NULL;
    int failed = 0;
    if (reentrant) {
        /* if lock._is_owned(): depth -= 1; if rec.active: emit(RELEASE, oid, (depth,)) */
        int owned = call_truth(lock, str_is_owned, NULL);
        if (owned < 0) {
            failed = 1;
        }
        else if (owned) {
            self->depth -= 1;
            int active = is_active(rec);
            failed = active < 0 || (active && emit(self, rec, kind_release, depth_data(self->depth)) < 0);
        }
    }
    else {
        /* if rec.active and lock.locked(): emit(RELEASE, oid, (0,)) */
        int active = is_active(rec);
        int held = active > 0 ? call_truth(lock, str_locked, NULL) : 0;
        failed = active < 0 || held < 0 || (held && emit(self, rec, kind_release, Py_NewRef(release_data)) < 0);
    }
    if (failed) {
        release_keeping_error(lock);
        if (!reentrant || self->depth == 0) {
            count_lock(self, 0);
        }
    }
    else {
        PyObject *args[1] = {lock};
        PyObject *released = lock_call(str_release, args, 1);
        if (released != NULL) {
            Py_DECREF(released);
            if (!reentrant || self->depth == 0) {
                count_lock(self, 0);
            }
            result = pack_between_locks() < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    Py_DECREF(lock);
    Py_DECREF(rec);
    return result;
}

static PyObject *
lock_acquire(LockCore *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 0 || kwnames != NULL) {
        return call_python(self, str_acquire_py, args, nargs, kwnames);
    }
    return acquire_default(self, 0);
}

static PyObject *
lock_enter(LockCore *self, PyObject *unused)
{
    return acquire_default(self, 0);
}

static PyObject *
lock_release(LockCore *self, PyObject *unused)
{
    return release_now(self, 0);
}

static PyObject *
lock_exit(LockCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    return release_now(self, 0);
}

static PyObject *
rlock_acquire(LockCore *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 0 || kwnames != NULL) {
        return call_python(self, str_acquire_py, args, nargs, kwnames);
    }
    return acquire_default(self, 1);
}

static PyObject *
rlock_enter(LockCore *self, PyObject *unused)
{
    return acquire_default(self, 1);
}

static PyObject *
rlock_release(LockCore *self, PyObject *unused)
{
    return release_now(self, 1);
}

static PyObject *
rlock_exit(LockCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    return release_now(self, 1);
}

#define DOC_ACQUIRE "acquire(blocking=True, timeout=-1): the lock's acquire, recorded"
#define DOC_RELEASE "release(): the lock's release, recorded"

/* The Python methods' side of the count (`_acquire_py` and co. in locks.py). */
static PyObject *
core_count(LockCore *self, PyObject *held)
{
    int truth = PyObject_IsTrue(held);
    if (truth < 0) {
        return NULL;
    }
    count_lock(self, truth);
    Py_RETURN_NONE;
}

static PyObject *
core_after_release(LockCore *self, PyObject *unused)
{
    return pack_between_locks() < 0 ? NULL : Py_NewRef(Py_None);
}

#define DOC_COUNT "_count(held): whether this lock counts as held (for the Python methods)"
#define DOC_AFTER "_after_release(): pack between locks, as the C release does (for the Python methods)"

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_FASTCALL | METH_KEYWORDS, DOC_ACQUIRE},
    {"__enter__", (PyCFunction)lock_enter, METH_NOARGS, DOC_ACQUIRE},
    {"release", (PyCFunction)lock_release, METH_NOARGS, DOC_RELEASE},
    {"__exit__", (PyCFunction)(void (*)(void))lock_exit, METH_FASTCALL, DOC_RELEASE},
    {"_count", (PyCFunction)core_count, METH_O, DOC_COUNT},
    {"_after_release", (PyCFunction)core_after_release, METH_NOARGS, DOC_AFTER},
    {NULL},
};

static PyMethodDef rlock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))rlock_acquire, METH_FASTCALL | METH_KEYWORDS, DOC_ACQUIRE},
    {"__enter__", (PyCFunction)rlock_enter, METH_NOARGS, DOC_ACQUIRE},
    {"release", (PyCFunction)rlock_release, METH_NOARGS, DOC_RELEASE},
    {"__exit__", (PyCFunction)(void (*)(void))rlock_exit, METH_FASTCALL, DOC_RELEASE},
    {"_count", (PyCFunction)core_count, METH_O, DOC_COUNT},
    {"_after_release", (PyCFunction)core_after_release, METH_NOARGS, DOC_AFTER},
    {NULL},
};

static PyMemberDef lock_members[] = {
    {"_lock", T_OBJECT_EX, offsetof(LockCore, lock), 0, NULL},
    {"_oid", T_OBJECT_EX, offsetof(LockCore, oid), 0, NULL},
    {"_rec", T_OBJECT_EX, offsetof(LockCore, rec), 0, NULL},
    {"_counted", T_BOOL, offsetof(LockCore, counted), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LockCore, weakrefs), READONLY, NULL},
    {NULL},
};

static PyMemberDef rlock_members[] = {
    {"_lock", T_OBJECT_EX, offsetof(LockCore, lock), 0, NULL},
    {"_oid", T_OBJECT_EX, offsetof(LockCore, oid), 0, NULL},
    {"_rec", T_OBJECT_EX, offsetof(LockCore, rec), 0, NULL},
    {"_counted", T_BOOL, offsetof(LockCore, counted), READONLY, NULL},
    {"_depth", T_PYSSIZET, offsetof(LockCore, depth), 0, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LockCore, weakrefs), READONLY, NULL},
    {NULL},
};

static PyType_Slot lock_slots[] = {
    {Py_tp_doc, "The recorded Lock's state and hot methods (see chronodbg/recorder/locks.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_traverse, core_traverse},
    {Py_tp_clear, core_clear},
    {Py_tp_dealloc, core_dealloc},
    {Py_tp_methods, lock_methods},
    {Py_tp_members, lock_members},
    {0, NULL},
};

static PyType_Slot rlock_slots[] = {
    {Py_tp_doc, "The recorded RLock's state and hot methods (see chronodbg/recorder/locks.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_traverse, core_traverse},
    {Py_tp_clear, core_clear},
    {Py_tp_dealloc, core_dealloc},
    {Py_tp_methods, rlock_methods},
    {Py_tp_members, rlock_members},
    {0, NULL},
};

static PyType_Spec lock_spec = {
    "chronodbg.recorder._locks.LockCore", sizeof(LockCore), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, lock_slots,
};

static PyType_Spec rlock_spec = {
    "chronodbg.recorder._locks.RLockCore", sizeof(LockCore), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, rlock_slots,
};

/* configure(acquire, release, contended): the event kinds and locks._contended. */
static PyObject *
configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "configure(acquire, release, contended)");
        return NULL;
    }
    Py_XSETREF(kind_acquire, Py_NewRef(args[0]));
    Py_XSETREF(kind_release, Py_NewRef(args[1]));
    Py_XSETREF(contended, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* set_packer(buffer, pack_a_chunk, every) while a recorder records; set_packer(None, None, 0) after. */
static PyObject *
set_packer(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || (args[0] != Py_None && (!PyList_CheckExact(args[0]) || !PyCallable_Check(args[1])))) {
        PyErr_SetString(PyExc_TypeError, "set_packer(buffer: list | None, pack: callable | None, every: int)");
        return NULL;
    }
    Py_ssize_t every = PyLong_AsSsize_t(args[2]);
    if (every == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (args[0] == Py_None) {
        Py_CLEAR(pack_buffer);
        Py_CLEAR(pack_call);
    }
    else {
        Py_XSETREF(pack_buffer, Py_NewRef(args[0]));
        Py_XSETREF(pack_call, Py_NewRef(args[1]));
    }
    pack_every = pack_next = every;
    Py_RETURN_NONE;
}

/* held(): the recorded locks of the C types held now (for the tests). */
static PyObject *
held_count(PyObject *module, PyObject *unused)
{
    return PyLong_FromSsize_t(held_now);
}

static PyMethodDef module_methods[] = {
    {"set_packer", (PyCFunction)(void (*)(void))set_packer, METH_FASTCALL,
     "set_packer(buffer, pack, every): pack between locks for this recorder (None, None, 0: for none)"},
    {"held", (PyCFunction)held_count, METH_NOARGS, "held(): recorded locks of the C types held now, by any thread"},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(acquire, release, contended): called once by chronodbg.recorder.locks"},
    {NULL},
};

static struct PyModuleDef locks_module = {
    PyModuleDef_HEAD_INIT, "chronodbg.recorder._locks",
    "The recorded locks' hot methods in C (see chronodbg/recorder/locks.py).", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__locks(void)
{
#define INTERN(var, text)                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL) { \
        return NULL;                                        \
    }
    INTERN(str_active, "active");
    INTERN(str_emit, "emit");
    INTERN(str_acquire, "acquire");
    INTERN(str_release, "release");
    INTERN(str_locked, "locked");
    INTERN(str_is_owned, "_is_owned");
    INTERN(str_acquire_py, "_acquire_py");
    INTERN(str_release_py, "_release_py");
#undef INTERN
    release_data = Py_BuildValue("(i)", 0);
    acquire_data = Py_BuildValue("(ii)", 0, 1);
    if (release_data == NULL || acquire_data == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&locks_module);
    if (module == NULL) {
        return NULL;
    }
    PyObject *lock_type = PyType_FromSpec(&lock_spec);
    if (lock_type == NULL || PyModule_AddObject(module, "LockCore", lock_type) < 0) {
        Py_XDECREF(lock_type);
        Py_DECREF(module);
        return NULL;
    }
    PyObject *rlock_type = PyType_FromSpec(&rlock_spec);
    if (rlock_type == NULL || PyModule_AddObject(module, "RLockCore", rlock_type) < 0) {
        Py_XDECREF(rlock_type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
