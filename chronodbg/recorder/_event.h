/* A buffered event that is not a tuple (issue 8): what the C emit appends to the recorder's buffer.
 *
 * The Python path buffers 8-tuples (t, thread, task, kind, obj, site, data, locals), and so does the
 * C emit under a clock other than time.monotonic_ns. Everywhere else the C emit makes a CgrEvent: the
 * same eight items, the time kept as a C integer, no garbage-collector header, and its memory reused
 * from a free list (_event.c). An event cost two allocations and two frees for these (the tuple and the
 * time's int), and the collector's tracking of the tuple; they were a sixth of `--level calls`' time.
 *
 * To Python a CgrEvent reads like the tuple it stands for (indexing, slicing, unpacking, len, ==), so
 * the Python readers of the buffer (the Python packer, the watchdog's methods, the tests) see no
 * difference. The C readers (the packer, the watchdog's loop) read its items directly: items[1] to
 * items[7] are the tuple's items 1 to 7; items[0] is always NULL, the time being `t`.
 *
 * The type lives in chronodbg.recorder._hotpath. The other extensions find it through a capsule, and
 * only once that module is loaded: before that no CgrEvent exists (cgr_event_type).
 */
#ifndef CHRONODBG_EVENT_H
#define CHRONODBG_EVENT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    PyObject_HEAD
    int64_t t;
    PyObject *items[8]; /* strong references, never NULL but items[0], which is always NULL */
} CgrEvent;

/* In _event.c, linked into chronodbg.recorder._hotpath only: */

/* A new event stealing a reference to each item (released on failure): NULL with an error set on failure. */
PyObject *cgr_event_new(int64_t t, PyObject *thread, PyObject *task, PyObject *kind, PyObject *obj, PyObject *site,
                        PyObject *data, PyObject *snap);

/* Readies the type and adds it (`Event`) and its capsule (`event_type`) to the module: 0, or -1 with an error set. */
int cgr_event_init(PyObject *module);

#define CGR_EVENT_MODULE "chronodbg.recorder._hotpath"
#define CGR_EVENT_CAPSULE CGR_EVENT_MODULE ".event_type"

/* The event type when its module is loaded, else NULL (no error set either way). Call with the GIL held. */
static inline PyTypeObject *
cgr_event_type(void)
{
    static PyTypeObject *found = NULL;
    if (found != NULL) {
        return found;
    }
    /* Not imported here: an extension's code must not import modules behind the program's back. */
    PyObject *name = PyUnicode_FromString(CGR_EVENT_MODULE);
    PyObject *module = name == NULL ? NULL : PyImport_GetModule(name);
    Py_XDECREF(name);
    if (module != NULL) {
        PyObject *capsule = PyObject_GetAttrString(module, "event_type");
        Py_DECREF(module);
        if (capsule != NULL) {
            found = (PyTypeObject *)PyCapsule_GetPointer(capsule, CGR_EVENT_CAPSULE);
            /* The module keeps the capsule, and the type is static in it. */
            Py_DECREF(capsule);
        }
    }
    PyErr_Clear();
    return found;
}

/* An event's items 1 to 7 at [1] to [7], for a CgrEvent of `type` or an exact 8-tuple; NULL for anything else. */
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
