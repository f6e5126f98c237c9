/* Shared by the C recorder's sampling parts: _sampler.c (the Sampler type, the module),
 * _summary.c (values' summaries) and _frame_events.c (calls and returns). */
#ifndef CHRONODBG_SAMPLER_H
#define CHRONODBG_SAMPLER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <pythread.h>
#include <stddef.h>

#define FRAME_CACHE_LIMIT 4096

/* The summariser's limits (use_repr, max_*): read once, and again after
 * Summariser.__setattr__ calls forget_limits() (tests change them). */
typedef struct {
    Py_ssize_t max_names, max_str, max_items, max_depth;
    int use_repr;
} Limits;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *summariser;
    PyObject *fallback;   /* the Python frame_locals, bound */
    PyObject *frames;     /* Summariser._frames */
    PyObject *secret;     /* Summariser._secret */
    PyObject *is_secret;  /* Summariser.is_secret, bound */
    PyObject *plain;      /* Summariser._plain_objects */
    PyObject *gettrace;   /* sys.gettrace */
    PyObject *redacted;   /* (TAG_REDACTED,) */
    PyObject *tag_error;  /* TAG_ERROR */
    PyObject *module_name; /* "<module>" */
    PyObject *locals_name; /* "<locals>" */
    PyObject *max_names_attr; /* "max_names", interned */
    PyObject *use_repr_attr;  /* "use_repr", interned */
    PyObject *value;          /* Summariser.value, bound */
    PyObject *type_names;     /* Summariser._type_names */
    PyObject *max_str_attr, *max_items_attr, *max_depth_attr;
    PyObject *dict_tag, *list_tag, *tuple_tag, *obj_tag;
    PyObject *recorded;       /* Summariser._recorded: type -> how its objects carry their id */
    PyObject *recorded_key;   /* Summariser.recorded_key, bound */
    Limits limits;    /* valid while limits_known */
    int limits_known;
    /* The last entry key made (see frame_key), and the code address and thread it is for. */
    PyObject *last_key;
    uintptr_t last_key_code;
    unsigned long last_key_thread;
    /* The well-formed entry `frames` held under last_key when `frames` had
     * the version last_entry_version (borrowed: while that version stands,
     * the dict holds it). See sample(). */
    PyObject *last_entry;
    uint64_t last_entry_version;
} Sampler;


/* A frame's locals as (name, value) arrays, str names only, holding references.
 * Read from the frame's own dict without building a list of item tuples
 * (two allocations per name a sample otherwise); a mapping of another kind
 * (3.13's proxy) or a large one goes through its items(). */
#define LOCALS_ON_STACK 64
typedef struct {
    PyObject *names_on_stack[LOCALS_ON_STACK], *values_on_stack[LOCALS_ON_STACK];
    PyObject **names, **values;
    Py_ssize_t count;
} Locals;
int cgr_locals_read(Locals *locals, PyObject *namespace);
/* The frame's variables read directly (_fast_locals.c): 1 read, 0 where only its namespace gives the same. */
int cgr_locals_direct(Locals *locals, PyFrameObject *frame);
/* Variable `index` of the frame, if it is `name` and can be read directly (`*read`): a new reference, NULL if unbound. */
PyObject *cgr_local_direct(PyFrameObject *frame, Py_ssize_t index, PyObject *name, int *read);
void cgr_locals_release(Locals *locals);

int cgr_is_immutable(PyTypeObject *cls);
PyObject *cgr_error_summary(Sampler *self);
PyObject *cgr_unreadable_locals(Sampler *self);
int cgr_same_address(PyObject *ident, PyObject *value);
PyObject *cgr_identity_of(PyTypeObject *cls, PyObject *value);
/* (name, summary), the same tuple again while it is kept (see _summary.c): a new reference. */
PyObject *cgr_pair(PyObject *name, PyObject *summary);
int cgr_add_pair(PyObject *pairs, PyObject *name, PyObject *summary);
int cgr_same_summary(PyObject *a, PyObject *b);
int cgr_is_secret(Sampler *self, PyObject *name);
PyObject *cgr_attr_int(PyObject *obj, PyObject *name, Py_ssize_t *out);
int cgr_read_limits(Sampler *self, Limits *limits);
int cgr_recorded_init(void);
int cgr_same_recorded(Sampler *self, PyObject *key, PyTypeObject *cls, PyObject *value);
PyObject *cgr_recorded_key(Sampler *self, PyTypeObject *cls, PyObject *value);
PyObject *cgr_safe_summary(Sampler *self, const Limits *limits, PyObject *value);
PyObject *cgr_held_of(Sampler *self, const Limits *limits, PyObject *value, PyObject *summary);
int cgr_held_still(Sampler *self, PyObject *held, PyTypeObject *cls, PyObject *value, PyObject *summary, const Limits *limits);

extern PyTypeObject cgr_SamplerType;
extern PyTypeObject cgr_FrameEventsType;
extern PyTypeObject cgr_UserOnlyType;

#endif
