/* A buffered event that is not a tuple (issue 8): what the C emit appends to the recorder's buffer.
 *
 * The Python path buffers 8-tuples (t, thread, task, kind, obj, site, data, locals), and so does the
 * C emit under a clock other than time.monotonic_ns. Everywhere else the C emit makes a CgrEvent: the
 * same eight items, the time kept as a C integer, no garbage-collector header, and its memory reused
 * from a free list (_event.c). A tuple cost two allocations and two frees per event (the tuple, the
 * time's int) and the collector's tracking of the tuple. A call's, return's or line's data (two or
 * three items, made by _frame_events.c and _line_events.c) is kept in the event itself, not in a
 * tuple of its own: `items[6]` is then NULL and the data is `inline_data[0]` to `[ndata - 1]`.
 *
 * To Python a CgrEvent reads like the tuple it stands for (indexing, slicing, unpacking, len, ==), so
 * the Python readers of the buffer (the Python packer, the watchdog's methods, the tests) see no
 * difference. The C readers (the packer, the watchdog's loop) read its items directly: items[1] to
 * items[7] are the tuple's items 1 to 7; items[0] is always NULL, the time being `t`; items[6] is NULL
 * when the data is inline.
 *
 * The type lives in chronodbg.recorder._hotpath. The other extensions find it, and the code events'
 * emit, through a capsule, and only once that module is loaded: before that no CgrEvent exists
 * (cgr_event_api).
 */
#ifndef CHRONODBG_EVENT_H
#define CHRONODBG_EVENT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define CGR_INLINE_DATA 3

typedef struct {
    PyObject_HEAD
    int64_t t;
    PyObject *items[8]; /* strong references, never NULL but items[0], always NULL, and items[6] (see above) */
    Py_ssize_t ndata;   /* with items[6] NULL: how many of inline_data hold the data */
    PyObject *inline_data[CGR_INLINE_DATA];
} CgrEvent;

/* What chronodbg.recorder._hotpath offers the other extensions (its capsule `api`). */
typedef struct {
    PyTypeObject *event_type;
    PyTypeObject *emit_code_type;
    /* emit_code(kind, data, code, line) of an EmitCode, the data given as its `ndata` items
     * (at most CGR_INLINE_DATA): what calling the EmitCode returns (None, or NULL with an error set). */
    PyObject *(*emit_code)(PyObject *emitter, PyObject *kind, PyObject *const *data, Py_ssize_t ndata,
                           PyObject *code, PyObject *line);
} CgrEventApi;

/* In _event.c, linked into chronodbg.recorder._hotpath only: */

/* A new event stealing a reference to each item (released on failure), the data being `data` when not NULL,
 * else the `ndata` items at `inline_data` (also stolen): NULL with an error set on failure. */
PyObject *cgr_event_new(int64_t t, PyObject *thread, PyObject *task, PyObject *kind, PyObject *obj, PyObject *site,
                        PyObject *data, PyObject *snap, PyObject *const *inline_data, Py_ssize_t ndata);

/* Readies the type and adds it (`Event`) and the capsule (`api`, with `api`'s other fields as given) to the
 * module: 0, or -1 with an error set. */
int cgr_event_init(PyObject *module, CgrEventApi *api);

#define CGR_EVENT_MODULE "chronodbg.recorder._hotpath"
#define CGR_EVENT_CAPSULE CGR_EVENT_MODULE ".api"

/* The API when its module is loaded, else NULL (no error set either way). Call with the GIL held. */
static inline const CgrEventApi *
cgr_event_api(void)
{
    static const CgrEventApi *found = NULL;
    if (found != NULL) {
        return found;
    }
    /* Not imported here: an extension's code must not import modules behind the program's back. */
    PyObject *name = PyUnicode_FromString(CGR_EVENT_MODULE);
    PyObject *module = name == NULL ? NULL : PyImport_GetModule(name);
    Py_XDECREF(name);
    if (module != NULL) {
        PyObject *capsule = PyObject_GetAttrString(module, "api");
        Py_DECREF(module);
        if (capsule != NULL) {
            found = (const CgrEventApi *)PyCapsule_GetPointer(capsule, CGR_EVENT_CAPSULE);
            /* The module keeps the capsule, and the API is static in it. */
            Py_DECREF(capsule);
        }
    }
    PyErr_Clear();
    return found;
}

/* The event type when its module is loaded, else NULL. */
static inline PyTypeObject *
cgr_event_type(void)
{
    const CgrEventApi *api = cgr_event_api();
    return api == NULL ? NULL : api->event_type;
}

/* A tuple of the `n` objects at `items` (new references to them): a new reference, NULL with an error set. */
static inline PyObject *
cgr_tuple_of(PyObject *const *items, Py_ssize_t n)
{
    PyObject *tuple = PyTuple_New(n);
    for (Py_ssize_t i = 0; tuple != NULL && i < n; i++) {
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(items[i]));
    }
    return tuple;
}

/* An event's items 1 to 7 at [1] to [7], for a CgrEvent of `type` (whose [6] is NULL when its data is inline)
 * or an exact 8-tuple; NULL for anything else. */
static inline PyObject *const *
cgr_event_items(PyObject *event, PyTypeObject *type)
{
    if (Py_TYPE(event) == type) {
        return ((CgrEvent *)event)->items;
    }
    if (PyTuple_CheckExact(event) && PyTuple_GET_SIZE(event) == 8) {
        return ((PyTupleObject *)event)->ob_item;
    }
    return NULL;
}

#endif
