/*
 * CodeEvents.frames where the tracers' C parts run: id(frame) -> [frame id, last line, known] (issue 8).
 *
 * Each call recorded put its record in a dict under a new int (the frame's address) and each return popped
 * it under another: two ints made and freed and two dict operations a call, most of what the frame
 * records cost at `--level calls`. This table keys the records by the frame's address itself. The C parts
 * (_frame_events.c, _line_events.c) use it by address; the Python methods of CodeEvents (exceptions,
 * unwinding, the 3.11 settrace tracer) use it as they used the dict, through get, pop, `in` and `[]`, with
 * id(frame) as the key.
 *
 * Open addressing with linear probing and deletion by backward shift, so no tombstones are left behind.
 * A record's release can run Python code (a finaliser of a value it held) that records again, so every
 * change of the table is complete before anything is released.
 */
#include "_frame_events.h"

#include <stdint.h>

#define FIRST_CAPACITY 64 /* a power of two */

static inline size_t
ideal(const FrameTable *table, void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key >> 4; /* frames are 16-byte aligned */
    h *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 29)) & table->mask;
}

/* The slot holding `key`, or the empty slot where it would go. */
static FrameSlot *
probe(const FrameTable *table, void *key)
{
    size_t i = ideal(table, key);
    while (table->slots[i].key != NULL && table->slots[i].key != key) {
        i = (i + 1) & table->mask;
    }
    return &table->slots[i];
}

PyObject *
cgr_frames_get(FrameTable *table, void *key)
{
    if (table->slots == NULL) {
        return NULL;
    }
    FrameSlot *slot = probe(table, key);
    return slot->key == NULL ? NULL : slot->value;
}

static int
grow(FrameTable *table)
{
    size_t capacity = table->slots == NULL ? FIRST_CAPACITY : (table->mask + 1) * 2;
    FrameSlot *slots = PyMem_Calloc(capacity, sizeof(FrameSlot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    FrameSlot *old = table->slots;
    size_t old_capacity = old == NULL ? 0 : table->mask + 1;
    table->slots = slots;
    table->mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].key != NULL) {
            *probe(table, old[i].key) = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

int
cgr_frames_set(FrameTable *table, void *key, PyObject *value)
{
    if (table->slots == NULL || (size_t)(table->used + 1) * 3 >= (table->mask + 1) * 2) {
        if (grow(table) < 0) {
            return -1;
        }
    }
    FrameSlot *slot = probe(table, key);
    PyObject *old = slot->key == NULL ? NULL : slot->value;
    if (slot->key == NULL) {
        slot->key = key;
        table->used++;
    }
    slot->value = Py_NewRef(value);
    Py_XDECREF(old); /* last: it can run Python code */
    return 0;
}

PyObject *
cgr_frames_pop(FrameTable *table, void *key)
{
    if (table->slots == NULL) {
        return NULL;
    }
    FrameSlot *slot = probe(table, key);
    if (slot->key == NULL) {
        return NULL;
    }
    PyObject *value = slot->value;
    /* Backward shift: move each later entry of the run into the hole if its ideal slot allows it. */
    size_t hole = (size_t)(slot - table->slots);
    size_t j = hole;
    for (;;) {
        j = (j + 1) & table->mask;
        void *moved = table->slots[j].key;
        if (moved == NULL) {
            break;
        }
        size_t home = ideal(table, moved);
        /* Whether `home` lies cyclically in (hole, j]: then the entry must stay where it is. */
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            table->slots[hole] = table->slots[j];
            hole = j;
        }
    }
    table->slots[hole].key = NULL;
    table->slots[hole].value = NULL;
    table->used--;
    return value; /* the table's reference, now the caller's */
}

/* -- the Python side: a mapping from id(frame) ---------------------------------------------------- */

/* The address an int key stands for: 0 and a NULL result with an error set when it is no such int. */
static void *
key_of(PyObject *key)
{
    if (!PyLong_Check(key)) {
        PyErr_Format(PyExc_TypeError, "a frame table's key is an id(), not %.100s", Py_TYPE(key)->tp_name);
        return NULL;
    }
    void *address = PyLong_AsVoidPtr(key);
    if (address == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "a frame table's key is not 0");
    }
    return address;
}

static PyObject *
table_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    void *key = key_of(args[0]);
    if (key == NULL) {
        return NULL;
    }
    PyObject *value = cgr_frames_get((FrameTable *)op, key);
    return Py_NewRef(value != NULL ? value : nargs == 2 ? args[1] : Py_None);
}

static PyObject *
table_pop(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    void *key = key_of(args[0]);
    if (key == NULL) {
        return NULL;
    }
    PyObject *value = cgr_frames_pop((FrameTable *)op, key);
    if (value == NULL) {
        if (nargs == 2) {
            return Py_NewRef(args[1]);
        }
        PyErr_SetObject(PyExc_KeyError, args[0]);
    }
    return value;
}

static Py_ssize_t
table_length(PyObject *op)
{
    return ((FrameTable *)op)->used;
}

static PyObject *
table_subscript(PyObject *op, PyObject *key_obj)
{
    void *key = key_of(key_obj);
    if (key == NULL) {
        return NULL;
    }
    PyObject *value = cgr_frames_get((FrameTable *)op, key);
    if (value == NULL) {
        PyErr_SetObject(PyExc_KeyError, key_obj);
        return NULL;
    }
    return Py_NewRef(value);
}

static int
table_ass_subscript(PyObject *op, PyObject *key_obj, PyObject *value)
{
    void *key = key_of(key_obj);
    if (key == NULL) {
        return -1;
    }
    if (value != NULL) {
        return cgr_frames_set((FrameTable *)op, key, value);
    }
    PyObject *old = cgr_frames_pop((FrameTable *)op, key);
    if (old == NULL) {
        PyErr_SetObject(PyExc_KeyError, key_obj);
        return -1;
    }
    Py_DECREF(old);
    return 0;
}

static int
table_contains(PyObject *op, PyObject *key_obj)
{
    void *key = key_of(key_obj);
    if (key == NULL) {
        return -1;
    }
    return cgr_frames_get((FrameTable *)op, key) != NULL;
}

static int
table_traverse(PyObject *op, visitproc visit, void *arg)
{
    FrameTable *table = (FrameTable *)op;
    for (size_t i = 0; table->slots != NULL && i <= table->mask; i++) {
        Py_VISIT(table->slots[i].value);
    }
    return 0;
}

static int
table_clear(PyObject *op)
{
    FrameTable *table = (FrameTable *)op;
    FrameSlot *slots = table->slots;
    size_t capacity = slots == NULL ? 0 : table->mask + 1;
    /* Emptied first: releasing the records can run Python code that uses the table. */
    table->slots = NULL;
    table->mask = 0;
    table->used = 0;
    for (size_t i = 0; i < capacity; i++) {
        Py_XDECREF(slots[i].value);
    }
    PyMem_Free(slots);
    return 0;
}

static void
table_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    table_clear(op);
    Py_TYPE(op)->tp_free(op);
}

static PyMethodDef table_methods[] = {
    {"get", (PyCFunction)(void (*)(void))table_get, METH_FASTCALL, "get(key, default=None): the record of the frame whose id() is key"},
    {"pop", (PyCFunction)(void (*)(void))table_pop, METH_FASTCALL, "pop(key[, default]): remove and return that record"},
    {NULL},
};

static PyMappingMethods table_as_mapping = {
    .mp_length = table_length,
    .mp_subscript = table_subscript,
    .mp_ass_subscript = table_ass_subscript,
};

static PySequenceMethods table_as_sequence = {
    .sq_contains = table_contains,
};

PyTypeObject cgr_FrameTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chronodbg.recorder._sampler.FrameTable",
    .tp_doc = PyDoc_STR("CodeEvents.frames for the C tracers: id(frame) -> [frame id, last line, known]."),
    .tp_basicsize = sizeof(FrameTable),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = table_dealloc,
    .tp_traverse = table_traverse,
    .tp_clear = table_clear,
    .tp_as_mapping = &table_as_mapping,
    .tp_as_sequence = &table_as_sequence,
    .tp_methods = table_methods,
};
