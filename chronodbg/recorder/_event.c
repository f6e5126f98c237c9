/*
 * The buffered event's type (see _event.h): made by the emits in _hotpath.c, read as a tuple by
 * Python and by its fields in C.
 *
 * It is not a GC type: it only refers to the event's own items, and only the buffer, the writer's
 * batch and the watchdog's tables refer to it, so no reference cycle passes through it (the items'
 * own containers stay tracked, as in an untracked tuple).
 *
 * The free list is read and written holding the GIL (the extension does not build without one).
 */
#include "_event.h"

/* Two chunks' worth (CHUNK_EVENTS, logfile/format.py): a drain frees a chunk's events at a time, and
 * the emits that follow take them back. */
#define FREE_LIST_SIZE 8192

static CgrEvent *free_list[FREE_LIST_SIZE];
static int free_count = 0;

static PyTypeObject CgrEventType;

PyObject *
cgr_event_new(int64_t t, PyObject *thread, PyObject *task, PyObject *kind, PyObject *obj, PyObject *site,
              PyObject *data, PyObject *snap, PyObject *const *inline_data, Py_ssize_t ndata)
{
    if (data != NULL) {
        ndata = 0;
    }
    CgrEvent *event = NULL;
    if (ndata <= CGR_INLINE_DATA) {
        if (free_count > 0) {
            event = free_list[--free_count];
        }
        else if ((event = PyObject_Malloc(sizeof(CgrEvent))) == NULL) {
            PyErr_NoMemory();
        }
    }
    else {
        PyErr_SetString(PyExc_SystemError, "too many items of inline data");
    }
    if (event == NULL) {
        PyObject *given[7] = {thread, task, kind, obj, site, data, snap};
        for (int i = 0; i < 7; i++) {
            Py_XDECREF(given[i]);
        }
        for (Py_ssize_t i = 0; i < ndata; i++) {
            Py_DECREF(inline_data[i]);
        }
        return NULL;
    }
    PyObject_Init((PyObject *)event, &CgrEventType);
    event->t = t;
    event->items[0] = NULL;
    event->items[1] = thread;
    event->items[2] = task;
    event->items[3] = kind;
    event->items[4] = obj;
    event->items[5] = site;
    event->items[6] = data;
    event->items[7] = snap;
    event->ndata = ndata;
    for (Py_ssize_t i = 0; i < ndata; i++) {
        event->inline_data[i] = inline_data[i];
    }
    return (PyObject *)event;
}

/* Event(t, thread, task, kind, obj, site, data, locals): as the emit makes it, for tests and tools. */
static PyObject *
event_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *t, *items[7];
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        PyErr_SetString(PyExc_TypeError, "Event() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "Event", 8, 8, &t, &items[0], &items[1], &items[2], &items[3], &items[4], &items[5],
                           &items[6])) {
        return NULL;
    }
    long long ns = PyLong_AsLongLong(t);
    if (ns == -1 && PyErr_Occurred()) {
        return NULL;
    }
    for (int i = 0; i < 7; i++) {
        Py_INCREF(items[i]);
    }
    return cgr_event_new(ns, items[0], items[1], items[2], items[3], items[4], items[5], items[6], NULL, 0);
}

static void
event_dealloc(PyObject *op)
{
    CgrEvent *event = (CgrEvent *)op;
    for (int i = 1; i < 8; i++) {
        Py_CLEAR(event->items[i]);
    }
    for (Py_ssize_t i = 0; i < event->ndata; i++) {
        Py_CLEAR(event->inline_data[i]);
    }
    event->ndata = 0;
    if (free_count < FREE_LIST_SIZE) {
        free_list[free_count++] = event;
    }
    else {
        PyObject_Free(event);
    }
}

/* Item i (0 to 7): a new reference. */
static PyObject *
event_item(PyObject *op, Py_ssize_t i)
{
    CgrEvent *event = (CgrEvent *)op;
    if (i < 0 || i >= 8) {
        PyErr_SetString(PyExc_IndexError, "event index out of range");
        return NULL;
    }
    if (i == 0) {
        return PyLong_FromLongLong(event->t);
    }
    if (event->items[i] == NULL) {
        /* The inline data (_event.h), as the tuple it stands for. */
        return cgr_tuple_of(event->inline_data, event->ndata);
    }
    return Py_NewRef(event->items[i]);
}

/* The tuple this event stands for: a new reference. */
static PyObject *
event_tuple(PyObject *op)
{
    PyObject *tuple = PyTuple_New(8);
    if (tuple == NULL) {
        return NULL;
    }
    for (int i = 0; i < 8; i++) {
        PyObject *item = event_item(op, i);
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

static Py_ssize_t
event_length(PyObject *op)
{
    return 8;
}

static PyObject *
event_subscript(PyObject *op, PyObject *key)
{
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        return event_item(op, i < 0 ? i + 8 : i);
    }
    /* A slice (or a wrong key, for the tuple's own error). */
    PyObject *tuple = event_tuple(op);
    PyObject *result = tuple == NULL ? NULL : PyObject_GetItem(tuple, key);
    Py_XDECREF(tuple);
    return result;
}

static PyObject *
event_iter(PyObject *op)
{
    PyObject *tuple = event_tuple(op);
    PyObject *result = tuple == NULL ? NULL : PyObject_GetIter(tuple);
    Py_XDECREF(tuple);
    return result;
}

/* As tuples: an event equals the tuple it stands for, and orders among tuples as it would. */
static PyObject *
event_richcompare(PyObject *a, PyObject *b, int op)
{
    PyObject *left = Py_TYPE(a) == &CgrEventType ? event_tuple(a) : Py_NewRef(a);
    PyObject *right = left == NULL ? NULL : Py_TYPE(b) == &CgrEventType ? event_tuple(b) : Py_NewRef(b);
    if (right == NULL) {
        Py_XDECREF(left);
        return NULL;
    }
    PyObject *result = PyTuple_Check(left) && PyTuple_Check(right) ? PyObject_RichCompare(left, right, op)
                                                                   : Py_NewRef(Py_NotImplemented);
    Py_DECREF(left);
    Py_DECREF(right);
    return result;
}

static Py_hash_t
event_hash(PyObject *op)
{
    PyObject *tuple = event_tuple(op);
    Py_hash_t hash = tuple == NULL ? -1 : PyObject_Hash(tuple);
    Py_XDECREF(tuple);
    return hash;
}

static PyObject *
event_repr(PyObject *op)
{
    PyObject *tuple = event_tuple(op);
    PyObject *result = tuple == NULL ? NULL : PyUnicode_FromFormat("Event%R", tuple);
    Py_XDECREF(tuple);
    return result;
}

static PySequenceMethods event_as_sequence = {
    .sq_length = event_length,
    .sq_item = event_item,
};

static PyMappingMethods event_as_mapping = {
    .mp_length = event_length,
    .mp_subscript = event_subscript,
};

static PyTypeObject CgrEventType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._hotpath.Event",
    .tp_doc = PyDoc_STR("A buffered event: reads as the tuple (t, thread, task, kind, obj, site, data, locals)."),
    .tp_basicsize = sizeof(CgrEvent),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = event_new,
    .tp_dealloc = event_dealloc,
    .tp_repr = event_repr,
    .tp_as_sequence = &event_as_sequence,
    .tp_as_mapping = &event_as_mapping,
    .tp_hash = event_hash,
    .tp_richcompare = event_richcompare,
    .tp_iter = event_iter,
};

int
cgr_event_init(PyObject *module, CgrEventApi *api)
{
    if (PyType_Ready(&CgrEventType) < 0 || PyModule_AddObjectRef(module, "Event", (PyObject *)&CgrEventType) < 0) {
        return -1;
    }
    api->event_type = &CgrEventType;
    PyObject *capsule = PyCapsule_New(api, CGR_EVENT_CAPSULE, NULL);
    if (capsule == NULL) {
        return -1;
    }
    int failed = PyModule_AddObject(module, "api", capsule);
    if (failed < 0) {
        Py_DECREF(capsule);
    }
    return failed;
}
