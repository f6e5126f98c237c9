/*
 * The recorder's per-event path in C (issue 8).
 *
 * `Recorder._make_emit` / `_make_emit_code` (chronodbg/recorder/core.py) build
 * a Python closure each; this module builds an object that does exactly what
 * that closure does, step for step and in the same order, for the common
 * case, and calls back into the recorder's Python methods for everything
 * else: a thread, site or code object seen for the first time
 * (current_thread_id, site_id, code_is_user), locals sampling (frame_locals),
 * a full buffer (relieve). A call it does not expect (keywords, a wrong
 * number of arguments, a `frame` that is not a frame object) goes to the
 * Python closure itself, so even odd calls behave as the Python path does.
 *
 * Exceptions: like the closure's `except Exception: self.dropped += 1`,
 * an Exception raised anywhere inside is swallowed and counted; a
 * BaseException that is not an Exception (KeyboardInterrupt, SystemExit)
 * propagates.
 *
 * Thread safety: everything here runs holding the GIL, like the closure.
 * The callbacks can release it (they run Python code); nothing read before a
 * callback is trusted after it without holding a reference of our own.
 *
 * Only API that CPython 3.11, 3.12 and 3.13 all have publicly is used
 * (PyFrame_GetCode / PyFrame_GetBack return new references), but for
 * _gc_count.c, linked in, which keeps the collector's count.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <time.h>

#include "_chain.h"
#include "_dict_version.h"
#include "_event.h"
#include "_gc_count.h"

#if PY_VERSION_HEX < 0x030B0000
#error "chronodbg's hot path needs CPython 3.11 or later"
#endif
#ifdef Py_GIL_DISABLED
/* The emitter relies on the GIL (see above); a free-threaded build fails
 * here, and the optional extension is simply not installed. */
#error "chronodbg's hot path needs the GIL"
#endif

/* The time.monotonic_ns builtin: when the recorder's clock is that very
 * function, the same clock is read here without a call (see read_clock). */
static PyObject *monotonic_ns = NULL;
static PyObject *str_dropped = NULL;
static PyObject *one = NULL;

/* A site by its code object and a position in it: the instruction offset
 * (f_lasti) of a user frame for Emit, the line the tracer gives for EmitCode.
 * Both references are strong. */
typedef struct {
    PyObject *code;
    int at;
    PyObject *site;
} SiteSlot;

#define SITE_SLOTS 1024 /* a power of two */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fallback;          /* the Python closure: odd calls go there */
    PyObject *recorder;          /* for `dropped` */
    PyObject *buffer;            /* list */
    Py_ssize_t limit;            /* BUFFER_LIMIT when made */
    Py_ssize_t offer_every;      /* relieve() also at every offer_every-th event buffered (0: never) */
    PyObject *relieve;
    PyObject *thread_ids;        /* dict ident -> thread id */
    PyObject *current_thread_id;
    PyObject *now;               /* the clock (time.monotonic_ns) */
    int native_clock;            /* `now` is time.monotonic_ns itself */
    long long t0;
    PyObject *running_tasks;     /* dict ident -> task id */
    PyObject *sites;             /* dict (id(code), line) -> site id */
    PyObject *site_id;
    /* Emit only (NULL in EmitCode): */
    PyObject *by_code;           /* dict id(code) -> bool */
    PyObject *code_is_user;
    PyObject *stop_codes;        /* set of id(code) */
    PyObject *frame_locals;
    int sample;                  /* options.locals != "none" */
    /* The last thread's ident as an int object: `get_ident()` without an
     * allocation while one thread emits in a row. Read and replaced under
     * the GIL, and a reference is taken before any callback. */
    unsigned long ident;
    PyObject *ident_obj;
    /* thread_id's last answer, `tid_obj` for the thread `tid_ident`, good
     * while thread_ids keeps the version `tid_version` (see thread_id). */
    unsigned long tid_ident;
    uint64_t tid_version;
    PyObject *tid_obj;
    /* See cached_site (Emit) and code_site_slot (EmitCode). */
    SiteSlot site_slots[SITE_SLOTS];
} Emitter;

static int
emitter_traverse(Emitter *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    Py_VISIT(self->recorder);
    Py_VISIT(self->buffer);
    Py_VISIT(self->relieve);
    Py_VISIT(self->thread_ids);
    Py_VISIT(self->current_thread_id);
    Py_VISIT(self->now);
    Py_VISIT(self->running_tasks);
    Py_VISIT(self->sites);
    Py_VISIT(self->site_id);
    Py_VISIT(self->by_code);
    Py_VISIT(self->code_is_user);
    Py_VISIT(self->stop_codes);
    Py_VISIT(self->frame_locals);
    return 0;
}

static int
emitter_clear(Emitter *self)
{
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->relieve);
    Py_CLEAR(self->thread_ids);
    Py_CLEAR(self->current_thread_id);
    Py_CLEAR(self->now);
    Py_CLEAR(self->running_tasks);
    Py_CLEAR(self->sites);
    Py_CLEAR(self->site_id);
    Py_CLEAR(self->by_code);
    Py_CLEAR(self->code_is_user);
    Py_CLEAR(self->stop_codes);
    Py_CLEAR(self->frame_locals);
    Py_CLEAR(self->ident_obj);
    Py_CLEAR(self->tid_obj);
    for (size_t i = 0; i < SITE_SLOTS; i++) {
        Py_CLEAR(self->site_slots[i].code);
        Py_CLEAR(self->site_slots[i].site);
    }
    return 0;
}

static void
emitter_dealloc(Emitter *self)
{
    PyObject_GC_UnTrack(self);
    emitter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A cleared emitter (the GC broke a cycle through it) must not be used:
 * odd, but then the call fails like a call on a half-destroyed closure. */
static int
emitter_usable(Emitter *self)
{
    if (self->fallback == NULL || self->buffer == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "chronodbg emitter used after it was cleared");
        return 0;
    }
    return 1;
}

/* now() - t0 in *ns when the clock is time.monotonic_ns itself, read without a call: 1; 0 when the
 * clock is another (call_clock then); -1 on error. */
static int
native_now(Emitter *self, int64_t *ns)
{
    if (self->native_clock) {
#if PY_VERSION_HEX >= 0x030D0000
        PyTime_t now;
        if (PyTime_Monotonic(&now) < 0) {
            return -1;
        }
        *ns = (int64_t)now - self->t0;
        return 1;
#elif defined(__linux__)
        /* What time.monotonic_ns reads on Linux before 3.13. */
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
            *ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - self->t0;
            return 1;
        }
#endif
    }
    return 0;
}

/* now() - t0 by calling the clock, as the closure computes it: a new reference. */
static PyObject *
call_clock(Emitter *self)
{
    PyObject *now = PyObject_CallNoArgs(self->now);
    if (now == NULL) {
        return NULL;
    }
    PyObject *t0 = PyLong_FromLongLong(self->t0);
    if (t0 == NULL) {
        Py_DECREF(now);
        return NULL;
    }
    PyObject *t = PyNumber_Subtract(now, t0);
    Py_DECREF(now);
    Py_DECREF(t0);
    return t;
}

/* The time of an event being made: 0 with *ns set from the native clock and *t NULL, or with *t the
 * called clock's reading (a new reference); -1 on error. */
static int
read_clock(Emitter *self, int64_t *ns, PyObject **t)
{
    *t = NULL;
    int native = native_now(self, ns);
    if (native != 0) {
        return native < 0 ? -1 : 0;
    }
    *t = call_clock(self);
    return *t == NULL ? -1 : 0;
}

/* The event to buffer, stealing every reference given (released on failure): a CgrEvent at the native
 * clock's `ns` when `t` is NULL, else the Python path's tuple with `t`. The data is `data` when not NULL,
 * else the `ndata` items at `inline_data` (stolen too), kept in the CgrEvent or made a tuple.
 * NULL with an error set on failure. */
static PyObject *
new_event(PyObject *t, int64_t ns, PyObject *tid, PyObject *task, PyObject *kind, PyObject *obj, PyObject *site,
          PyObject *data, PyObject *snap, PyObject *const *inline_data, Py_ssize_t ndata)
{
    if (t == NULL) {
        return cgr_event_new(ns, tid, task, kind, obj, site, data, snap, inline_data, ndata);
    }
    if (data == NULL) {
        data = cgr_tuple_of(inline_data, ndata);
        for (Py_ssize_t i = 0; i < ndata; i++) {
            Py_DECREF(inline_data[i]); /* stolen: the tuple holds its own */
        }
    }
    PyObject *items[8] = {t, tid, task, kind, obj, site, data, snap};
    PyObject *event = data == NULL ? NULL : PyTuple_New(8);
    for (int i = 0; i < 8; i++) {
        if (event != NULL) {
            PyTuple_SET_ITEM(event, i, items[i]);
        }
        else {
            Py_XDECREF(items[i]);
        }
    }
    return event;
}

/* get_ident() as an int object (a new reference). */
static PyObject *
current_ident(Emitter *self)
{
    unsigned long ident = PyThread_get_thread_ident();
    if (self->ident_obj != NULL && self->ident == ident) {
        return Py_NewRef(self->ident_obj);
    }
    PyObject *obj = PyLong_FromUnsignedLong(ident);
    if (obj == NULL) {
        return NULL;
    }
    Py_XSETREF(self->ident_obj, Py_NewRef(obj));
    self->ident = ident;
    return obj;
}

/* `d.get(key) or call(*args)`: a new reference, NULL on error. */
static PyObject *
get_or_call(PyObject *d, PyObject *key, PyObject *call, PyObject *const *args, size_t nargs)
{
    PyObject *value = PyDict_GetItemWithError(d, key);
    if (value != NULL) {
        Py_INCREF(value);
        int truth = PyObject_IsTrue(value);
        if (truth > 0) {
            return value;
        }
        Py_DECREF(value);
        if (truth < 0) {
            return NULL;
        }
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_Vectorcall(call, args, nargs, NULL);
}

/* thread_ids.get(ident) or current_thread_id(), for `ident` the current
 * thread's (current_ident's last). A thread's id changes only by a change of
 * thread_ids (a thread registered, started or ended), so while the dict keeps
 * its version the last answer for the same thread stands: one compare where
 * there was a dict lookup per event. */
static PyObject *
thread_id(Emitter *self, PyObject *ident)
{
#ifdef CGR_DICT_VERSIONS
    uint64_t version = dict_version(self->thread_ids);
    if (self->tid_obj != NULL && self->tid_ident == self->ident && self->tid_version == version) {
        return Py_NewRef(self->tid_obj);
    }
    unsigned long for_ident = self->ident;
#endif
    PyObject *tid = get_or_call(self->thread_ids, ident, self->current_thread_id, NULL, 0);
#ifdef CGR_DICT_VERSIONS
    /* Kept only when the dict did not change meanwhile (a thread registered
     * by current_thread_id is kept at its next event). */
    if (tid != NULL && dict_version(self->thread_ids) == version) {
        Py_XSETREF(self->tid_obj, Py_NewRef(tid));
        self->tid_ident = for_ident;
        self->tid_version = version;
    }
#endif
    return tid;
}

/* sites.get((id(code), line)) or site_id(code, line); `code_id` is id(code). */
static PyObject *
site_of(Emitter *self, PyObject *code, PyObject *code_id, PyObject *line)
{
    PyObject *key = PyTuple_Pack(2, code_id, line);
    if (key == NULL) {
        return NULL;
    }
    PyObject *args[2] = {code, line};
    PyObject *site = get_or_call(self->sites, key, self->site_id, args, 2);
    Py_DECREF(key);
    return site;
}

/* running_tasks.get(ident): a new reference (None when absent). */
static PyObject *
running_task(Emitter *self, PyObject *ident)
{
    if (PyDict_GET_SIZE(self->running_tasks) == 0) {
        /* No task runs (a program of threads alone): no lookup. */
        return Py_NewRef(Py_None);
    }
    PyObject *task = PyDict_GetItemWithError(self->running_tasks, ident);
    if (task == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return Py_NewRef(task);
}

/* buffer.append(event); relieve() past the limit, and at every offer_every-th event. Steals `event`.
 *
 * The event is untracked by the GC first: only the buffer (and the writer's
 * batch) ever refer to it, so no reference cycle can pass through it, and an
 * untracked container only makes what it holds look referenced from outside,
 * which it is. The collector then never traverses the buffered events (the
 * Python path's tuples are traversed once, by the first young collection,
 * which untracks them). Allocation counts, and so when collections happen,
 * stay as on the Python path. */
/* Untrack `obj` and the tuples inside it, as a collection would: a tuple
 * that holds only objects the GC does not track can never be part of a
 * cycle (CPython's own rule, which its collector applies lazily to each tuple
 * it examines). Returns whether obj is now such an object itself. Tuples
 * shared by many events (an unchanged snapshot, its pairs) are untracked once
 * and then cost one check.
 *
 * Why here: an event's data and locals are nested tuples that wait in the
 * buffer for the writer. Left tracked, they fill the young generation, and
 * after the writer's packing window (the GC is off while it packs, and the
 * program runs in between when the writer is switched out) one young
 * collection examined 300,000-700,000 of them: 0.1-0.2 s, a sixth of W3's
 * recorded time. */
static int
untrack_tree(PyObject *obj, int depth)
{
    if (!PyObject_IS_GC(obj)) {
        return 1;
    }
    if (!PyTuple_CheckExact(obj)) {
        return 0;
    }
    if (!PyObject_GC_IsTracked(obj)) {
        return 1;
    }
    if (depth > 16) {
        return 0;
    }
    int atomic = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); i++) {
        PyObject *item = PyTuple_GET_ITEM(obj, i);
        if (item == NULL || !untrack_tree(item, depth + 1)) {
            atomic = 0;
        }
    }
    if (atomic) {
        PyObject_GC_UnTrack(obj);
    }
    return atomic;
}

static int
append_event(Emitter *self, PyObject *event)
{
    if (event == NULL) {
        return -1;
    }
    /* Its data and locals (see untrack_tree); a CgrEvent is not tracked in the first place. */
    if (PyTuple_CheckExact(event)) {
        untrack_tree(PyTuple_GET_ITEM(event, 6), 0);
        untrack_tree(PyTuple_GET_ITEM(event, 7), 0);
        PyObject_GC_UnTrack(event);
    }
    else {
        CgrEvent *own = (CgrEvent *)event;
        if (own->items[6] != NULL) {
            untrack_tree(own->items[6], 0);
        }
        for (Py_ssize_t i = 0; i < own->ndata; i++) {
            untrack_tree(own->inline_data[i], 1);
        }
        untrack_tree(own->items[7], 0);
    }
    int failed = PyList_Append(self->buffer, event);
    Py_DECREF(event);
    if (failed) {
        return -1;
    }
    Py_ssize_t size = PyList_GET_SIZE(self->buffer);
    if (size > self->limit || (self->offer_every > 0 && size % self->offer_every == 0)) {
        PyObject *result = PyObject_CallNoArgs(self->relieve);
        if (result == NULL) {
            return -1;
        }
        Py_DECREF(result);
    }
    return 0;
}

/* The closure's handler: `except Exception: self.dropped += 1`. Returns the
 * call's result: None, or NULL with a BaseException that is not an Exception
 * (or a failure of the count itself, chained to the one it handled) set. */
static PyObject *
handle_error(Emitter *self)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *count = PyObject_GetAttr(self->recorder, str_dropped);
    PyObject *more = count != NULL ? PyNumber_InPlaceAdd(count, one) : NULL;
    int failed = more == NULL || PyObject_SetAttr(self->recorder, str_dropped, more) < 0;
    Py_XDECREF(count);
    Py_XDECREF(more);
    if (!failed) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        Py_RETURN_NONE;
    }
    /* As Python does for an error inside an `except` block: the handled one becomes its context. */
    cgr_chain_context(type, value, tb);
    return NULL;
}

/* The innermost frame of user code at or above `frame` (Recorder.user_frame):
 * a new reference, Py_None when there is none, NULL on error. `*code_id_out`
 * and `*code_out` receive id(code) and the code of the frame found (new
 * references) so the caller need not look them up again. */
static PyObject *
user_frame(Emitter *self, PyObject *frame, PyObject **code_out, PyObject **code_id_out)
{
    PyFrameObject *f = (PyFrameObject *)Py_NewRef(frame);
    while (f != NULL) {
        PyObject *code = (PyObject *)PyFrame_GetCode(f);
        PyObject *code_id = PyLong_FromVoidPtr(code);
        if (code_id == NULL) {
            goto error_code;
        }
        PyObject *user = PyDict_GetItemWithError(self->by_code, code_id);
        if (user != NULL) {
            Py_INCREF(user);
        }
        else if (PyErr_Occurred()) {
            goto error_id;
        }
        else {
            /* First sight of this code object: UserCode decides (and caches). */
            user = PyObject_CallOneArg(self->code_is_user, code);
            if (user == NULL) {
                goto error_id;
            }
        }
        int truth = PyObject_IsTrue(user);
        Py_DECREF(user);
        if (truth < 0) {
            goto error_id;
        }
        if (truth) {
            *code_out = code;
            *code_id_out = code_id;
            return (PyObject *)f;
        }
        if (PySet_GET_SIZE(self->stop_codes) > 0) {
            int stop = PySet_Contains(self->stop_codes, code_id);
            if (stop < 0) {
                goto error_id;
            }
            if (stop) {
                Py_DECREF(code_id);
                Py_DECREF(code);
                Py_DECREF(f);
                return Py_NewRef(Py_None);
            }
        }
        Py_DECREF(code_id);
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
        continue;
    error_id:
        Py_DECREF(code_id);
    error_code:
        Py_DECREF(code);
        Py_DECREF(f);
        return NULL;
    }
    return Py_NewRef(Py_None);
}

/* frame.f_lineno: None when the frame has no line (as the attribute is). */
static PyObject *
frame_line(PyFrameObject *frame)
{
    int line = PyFrame_GetLineNumber(frame);
    if (line < 0) {
        return Py_NewRef(Py_None);
    }
    return PyLong_FromLong(line);
}

/* The site cache (issue 8). Most events come from the same few places of
 * user code, and the closure's way to their site, `frame.f_lineno` (a scan
 * of the code's line table) and a dict lookup keyed by a new tuple, is a
 * large part of an event's cost. A frame's line is a function of its code
 * object and instruction offset, and a site id, once given, is never given
 * again (Recorder.site_id), so (code, lasti) -> site is exact forever.
 *
 * Only while this thread has no trace function: inside a trace call,
 * `f_lineno` is the traced line, which a tracer may even have set itself,
 * not the instruction's. Entries are made only for frames of user code (the
 * frame user_frame found), so a hit on the caller means `user_frame(caller)`
 * is the caller. */
static int
tracing(void)
{
    return PyThreadState_Get()->c_tracefunc != NULL;
}

static SiteSlot *
site_slot(Emitter *self, PyObject *code, int at)
{
    size_t h = ((size_t)(uintptr_t)code >> 4) ^ ((size_t)(unsigned)at * 2654435761u);
    return &self->site_slots[(h ^ (h >> 11)) & (SITE_SLOTS - 1)];
}

/* The caller's site from the cache: a new reference, or NULL (no error set) on a miss. */
static PyObject *
cached_site(Emitter *self, PyFrameObject *frame)
{
    if (tracing()) {
        return NULL;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int lasti = PyFrame_GetLasti(frame);
    SiteSlot *slot = site_slot(self, (PyObject *)code, lasti);
    PyObject *site = slot->code == (PyObject *)code && slot->at == lasti ? Py_NewRef(slot->site) : NULL;
    Py_DECREF(code);
    return site;
}

static void
remember_site(Emitter *self, PyFrameObject *frame, PyObject *code, PyObject *site)
{
    int lasti = PyFrame_GetLasti(frame);
    if (lasti < 0 || tracing()) {
        return;
    }
    SiteSlot *slot = site_slot(self, code, lasti);
    Py_XSETREF(slot->code, Py_NewRef(code));
    Py_XSETREF(slot->site, Py_NewRef(site));
    slot->at = lasti;
}

/* EmitCode's site cache: (code, line) -> site, exact for the same reasons
 * as cached_site's (the tracer gives the line, so tracing does not matter).
 * It spares a code event the key tuple, its hash and the dict lookup of
 * site_of. The slot for (code, line), or NULL when the line is not a small
 * int (then site_of alone answers). */
static SiteSlot *
code_site_slot(Emitter *self, PyObject *code, PyObject *line, int *at)
{
    if (!PyLong_CheckExact(line)) {
        return NULL;
    }
    int overflow;
    long n = PyLong_AsLongAndOverflow(line, &overflow);
    if (overflow || n < 0 || n > INT_MAX) {
        return NULL;
    }
    *at = (int)n;
    return site_slot(self, code, *at);
}

/* emit(kind, obj, data, frame, with_locals=True) */
static PyObject *
emit_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Emitter *self = (Emitter *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!emitter_usable(self)) {
        return NULL;
    }
    PyObject *caller = nargs >= 4 ? args[3] : NULL;
    if (kwnames != NULL || nargs < 4 || nargs > 5 || (caller != Py_None && !PyFrame_Check(caller))) {
        /* Keywords, a wrong count (the closure raises the TypeError) or a frame-like object. */
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    PyObject *kind = args[0], *obj = args[1], *data = args[2];
    PyObject *t = NULL, *ident = NULL, *tid = NULL, *frame = NULL, *code = NULL, *code_id = NULL;
    PyObject *line = NULL, *site = NULL, *snap = NULL, *task = NULL;
    int64_t ns = 0;

    if (read_clock(self, &ns, &t) < 0) {
        goto error;
    }
    ident = current_ident(self);
    if (ident == NULL) {
        goto error;
    }
    tid = thread_id(self, ident);
    if (tid == NULL) {
        goto error;
    }
    if (caller == Py_None) {
        frame = Py_NewRef(Py_None);
    }
    else if ((site = cached_site(self, (PyFrameObject *)caller)) != NULL) {
        frame = Py_NewRef(caller);
    }
    else {
        frame = user_frame(self, caller, &code, &code_id);
        if (frame == NULL) {
            goto error;
        }
    }
    if (frame == Py_None) {
        site = Py_NewRef(Py_None);
        snap = Py_NewRef(Py_None);
    }
    else {
        if (site == NULL && frame != caller) {
            /* An event made in library code (a queue's put, a condition's
             * wait) called from user code: the user frame's site may be known. */
            site = cached_site(self, (PyFrameObject *)frame);
        }
        if (site == NULL) {
            line = frame_line((PyFrameObject *)frame);
            if (line == NULL) {
                goto error;
            }
            site = site_of(self, code, code_id, line);
            if (site == NULL) {
                goto error;
            }
            if (line != Py_None) {
                remember_site(self, (PyFrameObject *)frame, code, site);
            }
        }
        int with_locals = 0;
        if (self->sample) {
            with_locals = nargs == 5 ? PyObject_IsTrue(args[4]) : 1;
            if (with_locals < 0) {
                goto error;
            }
        }
        if (with_locals) {
            PyObject *call_args[2] = {frame, frame == caller ? Py_True : Py_False};
            snap = PyObject_Vectorcall(self->frame_locals, call_args, 2, NULL);
            if (snap == NULL) {
                goto error;
            }
        }
        else {
            snap = Py_NewRef(Py_None);
        }
    }
    task = running_task(self, ident);
    if (task == NULL) {
        goto error;
    }
    /* new_event steals: the locals' references move into the event. */
    PyObject *event = new_event(t, ns, tid, task, Py_NewRef(kind), Py_NewRef(obj), site, Py_NewRef(data), snap, NULL, 0);
    t = tid = task = site = snap = NULL;
    Py_XDECREF(ident);
    Py_XDECREF(frame);
    Py_XDECREF(code);
    Py_XDECREF(code_id);
    Py_XDECREF(line);
    ident = frame = code = code_id = line = NULL;
    if (event == NULL || append_event(self, event) < 0) {
        goto error;
    }
    Py_RETURN_NONE;

error:
    Py_XDECREF(t);
    Py_XDECREF(ident);
    Py_XDECREF(tid);
    Py_XDECREF(frame);
    Py_XDECREF(code);
    Py_XDECREF(code_id);
    Py_XDECREF(line);
    Py_XDECREF(site);
    Py_XDECREF(snap);
    Py_XDECREF(task);
    return handle_error(self);
}

/* emit_code(kind, data, code, line), the data being `data` when not NULL, else the `ndata` items at
 * `inline_data` (borrowed), which the event keeps in itself (see _event.h). */
static PyObject *
emit_code_impl(Emitter *self, PyObject *kind, PyObject *data, PyObject *const *inline_data, Py_ssize_t ndata,
               PyObject *code, PyObject *line)
{
    PyObject *t = NULL, *ident = NULL, *tid = NULL, *code_id = NULL, *site = NULL, *task = NULL;
    int64_t ns = 0;
    /* Held from here: the callbacks below run Python code, which could drop what the caller lent. */
    PyObject *held[CGR_INLINE_DATA];
    for (Py_ssize_t i = 0; i < ndata; i++) {
        held[i] = Py_NewRef(inline_data[i]);
    }

    if (read_clock(self, &ns, &t) < 0) {
        goto error;
    }
    ident = current_ident(self);
    if (ident == NULL) {
        goto error;
    }
    tid = thread_id(self, ident);
    if (tid == NULL) {
        goto error;
    }
    int at = 0;
    SiteSlot *slot = code_site_slot(self, code, line, &at);
    if (slot != NULL && slot->code == code && slot->at == at) {
        site = Py_NewRef(slot->site);
    }
    else {
        code_id = PyLong_FromVoidPtr(code);
        if (code_id == NULL) {
            goto error;
        }
        site = site_of(self, code, code_id, line);
        if (site == NULL) {
            goto error;
        }
        if (slot != NULL) {
            Py_XSETREF(slot->code, Py_NewRef(code));
            Py_XSETREF(slot->site, Py_NewRef(site));
            slot->at = at;
        }
    }
    task = running_task(self, ident);
    if (task == NULL) {
        goto error;
    }
    PyObject *event = new_event(t, ns, tid, task, Py_NewRef(kind), Py_NewRef(Py_None), site, Py_XNewRef(data),
                                Py_NewRef(Py_None), held, ndata);
    t = tid = task = site = NULL;
    ndata = 0;
    Py_DECREF(ident);
    Py_XDECREF(code_id);
    ident = code_id = NULL;
    if (event == NULL || append_event(self, event) < 0) {
        goto error;
    }
    Py_RETURN_NONE;

error:
    Py_XDECREF(t);
    Py_XDECREF(ident);
    Py_XDECREF(tid);
    Py_XDECREF(code_id);
    Py_XDECREF(site);
    Py_XDECREF(task);
    for (Py_ssize_t i = 0; i < ndata; i++) {
        Py_DECREF(held[i]);
    }
    return handle_error(self);
}

/* emit_code(kind, data, code, line) */
static PyObject *
emit_code_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Emitter *self = (Emitter *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!emitter_usable(self)) {
        return NULL;
    }
    if (kwnames != NULL || nargs != 4) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    return emit_code_impl(self, args[0], args[1], NULL, 0, args[2], args[3]);
}

/* The emits as called: what they allocate does not count towards a collection (see _gc_count.c). */
#define KEEP_YOUNG(name, impl)                                                                \
    static PyObject *name(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) \
    {                                                                                         \
        CgrYoung young = cgr_young_save();                                                    \
        PyObject *result = impl(callable, args, nargsf, kwnames);                             \
        cgr_young_restore(young);                                                             \
        return result;                                                                        \
    }
KEEP_YOUNG(emit_counted, emit_call)
KEEP_YOUNG(emit_code_counted, emit_code_call)
#undef KEEP_YOUNG

static PyTypeObject EmitCodeType;

/* The API's emit_code (_event.h): an EmitCode called with its data as items, as the tracers' C parts call it. */
static PyObject *
emit_code_items(PyObject *emitter, PyObject *kind, PyObject *const *data, Py_ssize_t ndata, PyObject *code,
                PyObject *line)
{
    Emitter *self = (Emitter *)emitter;
    if (Py_TYPE(emitter) != &EmitCodeType || ndata < 0 || ndata > CGR_INLINE_DATA) {
        PyErr_SetString(PyExc_SystemError, "emit_code_items() needs an EmitCode and at most 3 items");
        return NULL;
    }
    if (!emitter_usable(self)) {
        return NULL;
    }
    CgrYoung young = cgr_young_save();
    PyObject *result = emit_code_impl(self, kind, NULL, data, ndata, code, line);
    cgr_young_restore(young);
    return result;
}

static CgrEventApi event_api = {NULL, &EmitCodeType, emit_code_items};

static int
check_exact(PyObject *obj, PyTypeObject *type, const char *what)
{
    if (Py_TYPE(obj) != type) {
        PyErr_Format(PyExc_TypeError, "%s must be a %s, not %.100s", what, type->tp_name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

/* The fields both kinds share, from the constructor's first 12 arguments. */
static int
init_common(Emitter *self, PyObject *fallback, PyObject *recorder, PyObject *buffer, Py_ssize_t limit,
            PyObject *relieve, PyObject *thread_ids, PyObject *current_thread_id, PyObject *now, PyObject *t0,
            PyObject *running_tasks, PyObject *sites, PyObject *site_id)
{
    /* Exact types: the C path reads them with the concrete API, which would
     * skip a subclass's overrides that the closure's method calls honour. */
    if (check_exact(buffer, &PyList_Type, "buffer") < 0 || check_exact(thread_ids, &PyDict_Type, "thread_ids") < 0
        || check_exact(running_tasks, &PyDict_Type, "running_tasks") < 0
        || check_exact(sites, &PyDict_Type, "sites") < 0) {
        return -1;
    }
    long long start = PyLong_AsLongLong(t0);
    if (start == -1 && PyErr_Occurred()) {
        return -1;
    }
    self->t0 = start;
    self->limit = limit;
    self->native_clock = now == monotonic_ns;
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->recorder, Py_NewRef(recorder));
    Py_XSETREF(self->buffer, Py_NewRef(buffer));
    Py_XSETREF(self->relieve, Py_NewRef(relieve));
    Py_XSETREF(self->thread_ids, Py_NewRef(thread_ids));
    Py_XSETREF(self->current_thread_id, Py_NewRef(current_thread_id));
    Py_XSETREF(self->now, Py_NewRef(now));
    Py_XSETREF(self->running_tasks, Py_NewRef(running_tasks));
    Py_XSETREF(self->sites, Py_NewRef(sites));
    Py_XSETREF(self->site_id, Py_NewRef(site_id));
    return 0;
}

static int
emit_init(PyObject *op, PyObject *args, PyObject *kwargs)
{
    Emitter *self = (Emitter *)op;
    PyObject *fallback, *recorder, *buffer, *relieve, *thread_ids, *current_thread_id, *now, *t0;
    PyObject *running_tasks, *sites, *site_id, *by_code, *code_is_user, *stop_codes, *frame_locals;
    Py_ssize_t limit, offer_every = 0;
    int sample;
    static char *names[] = {"fallback", "recorder", "buffer", "limit", "relieve", "thread_ids",
                            "current_thread_id", "now", "t0", "running_tasks", "sites", "site_id",
                            "by_code", "code_is_user", "stop_codes", "frame_locals", "sample", "offer_every", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOnOOOOOOOOOOOOp|n:Emit", names, &fallback, &recorder, &buffer,
                                     &limit, &relieve, &thread_ids, &current_thread_id, &now, &t0, &running_tasks,
                                     &sites, &site_id, &by_code, &code_is_user, &stop_codes, &frame_locals, &sample,
                                     &offer_every)) {
        return -1;
    }
    self->offer_every = offer_every;
    if (check_exact(by_code, &PyDict_Type, "by_code") < 0 || check_exact(stop_codes, &PySet_Type, "stop_codes") < 0) {
        return -1;
    }
    if (init_common(self, fallback, recorder, buffer, limit, relieve, thread_ids, current_thread_id, now, t0,
                    running_tasks, sites, site_id) < 0) {
        return -1;
    }
    Py_XSETREF(self->by_code, Py_NewRef(by_code));
    Py_XSETREF(self->code_is_user, Py_NewRef(code_is_user));
    Py_XSETREF(self->stop_codes, Py_NewRef(stop_codes));
    Py_XSETREF(self->frame_locals, Py_NewRef(frame_locals));
    self->sample = sample;
    return 0;
}

static int
emit_code_init(PyObject *op, PyObject *args, PyObject *kwargs)
{
    Emitter *self = (Emitter *)op;
    PyObject *fallback, *recorder, *buffer, *relieve, *thread_ids, *current_thread_id, *now, *t0;
    PyObject *running_tasks, *sites, *site_id;
    Py_ssize_t limit, offer_every = 0;
    static char *names[] = {"fallback", "recorder", "buffer", "limit", "relieve", "thread_ids",
                            "current_thread_id", "now", "t0", "running_tasks", "sites", "site_id", "offer_every", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOnOOOOOOOO|n:EmitCode", names, &fallback, &recorder, &buffer,
                                     &limit, &relieve, &thread_ids, &current_thread_id, &now, &t0, &running_tasks,
                                     &sites, &site_id, &offer_every)) {
        return -1;
    }
    self->offer_every = offer_every;
    return init_common(self, fallback, recorder, buffer, limit, relieve, thread_ids, current_thread_id, now, t0,
                       running_tasks, sites, site_id);
}

static PyObject *
emitter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs, vectorcallfunc call)
{
    Emitter *self = (Emitter *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->vectorcall = call;
    }
    return (PyObject *)self;
}

static PyObject *
emit_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return emitter_new(type, args, kwargs, emit_counted);
}

static PyObject *
emit_code_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return emitter_new(type, args, kwargs, emit_code_counted);
}

static PyObject *
emitter_get_fallback(Emitter *self, void *closure)
{
    return Py_NewRef(self->fallback != NULL ? self->fallback : Py_None);
}

static PyGetSetDef emitter_getset[] = {
    {"fallback", (getter)emitter_get_fallback, NULL, "the Python closure this stands in for", NULL},
    {NULL},
};

static PyTypeObject EmitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hotpath.Emit",
    .tp_doc = "Recorder.emit in C: emit(kind, obj, data, frame, with_locals=True) -> None",
    .tp_basicsize = sizeof(Emitter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Emitter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = emit_new,
    .tp_init = emit_init,
    .tp_dealloc = (destructor)emitter_dealloc,
    .tp_traverse = (traverseproc)emitter_traverse,
    .tp_clear = (inquiry)emitter_clear,
    .tp_getset = emitter_getset,
};

static PyTypeObject EmitCodeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hotpath.EmitCode",
    .tp_doc = "Recorder.emit_code in C: emit_code(kind, data, code, line) -> None",
    .tp_basicsize = sizeof(Emitter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Emitter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = emit_code_new,
    .tp_init = emit_code_init,
    .tp_dealloc = (destructor)emitter_dealloc,
    .tp_traverse = (traverseproc)emitter_traverse,
    .tp_clear = (inquiry)emitter_clear,
    .tp_getset = emitter_getset,
};

/* free_events(batch): empty the list of packed events without their frees counting (see _gc_count.c).
 * Their allocations did not count either (the emits'), and freeing them
 * would otherwise take the program's own allocations off the count. */
static PyObject *
free_events(PyObject *module, PyObject *batch)
{
    if (!PyList_Check(batch)) {
        PyErr_SetString(PyExc_TypeError, "free_events() needs a list");
        return NULL;
    }
    CgrYoung saved = cgr_young_save();
    int failed = PyList_SetSlice(batch, 0, PyList_GET_SIZE(batch), NULL);
    cgr_young_restore(saved);
    if (failed < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef hotpath_functions[] = {
    {"free_events", free_events, METH_O, "free_events(batch): empty it; the frees do not count towards a collection"},
    {NULL},
};

static struct PyModuleDef hotpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronodbg.recorder._hotpath",
    .m_doc = "The recorder's per-event path in C (see chronodbg/recorder/hotpath.py).",
    .m_size = -1,
    .m_methods = hotpath_functions,
};

PyMODINIT_FUNC
PyInit__hotpath(void)
{
    if (PyType_Ready(&EmitType) < 0 || PyType_Ready(&EmitCodeType) < 0) {
        return NULL;
    }
    if (monotonic_ns == NULL) {
        PyObject *time = PyImport_ImportModule("time");
        if (time == NULL) {
            return NULL;
        }
        monotonic_ns = PyObject_GetAttrString(time, "monotonic_ns");
        Py_DECREF(time);
        if (monotonic_ns == NULL) {
            return NULL;
        }
    }
    if (str_dropped == NULL && (str_dropped = PyUnicode_InternFromString("dropped")) == NULL) {
        return NULL;
    }
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&hotpath_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Emit", (PyObject *)&EmitType) < 0
        || PyModule_AddObjectRef(module, "EmitCode", (PyObject *)&EmitCodeType) < 0
        || cgr_event_init(module, &event_api) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
