/* Shared by _frame_events.c (calls and returns) and _line_events.c (lines): CodeEvents' C half. */
#ifndef CHRONODBG_FRAME_EVENTS_H
#define CHRONODBG_FRAME_EVENTS_H

#include "_sampler.h"
#include "_event.h"

/* What a call asks about its code object, kept per code (see code_slot in _frame_events.c). */
typedef struct {
    PyCodeObject *code;   /* strong: no other code object takes its address while it is here */
    PyObject *code_id;    /* id(code), the key of the id(code) dicts below */
    PyObject *first_line; /* the line of a call event */
    PyObject *names;      /* parameters[id(code)], or NULL until asked */
    int with_lines;       /* lines_known[id(code)], or -1 until asked */
    int started;          /* traced[id(code)] is True and id(code) in local: PY_START records it here */
    /* The lines of the last two instruction offsets a return, yield or resume was at. */
    int at[2];
    PyObject *line[2];
    int next;             /* which of the two the next new offset replaces */
} CodeSlot;

#define CODE_SLOTS 512 /* a power of two */

/* CodeEvents.frames for the C tracers (_frame_table.c): records by their frame's address. */
typedef struct {
    void *key;       /* the frame's address; NULL: empty */
    PyObject *value; /* its record, a strong reference */
} FrameSlot;

typedef struct {
    PyObject_HEAD
    FrameSlot *slots; /* NULL until the first record */
    size_t mask;      /* capacity - 1 */
    Py_ssize_t used;
} FrameTable;

extern PyTypeObject cgr_FrameTableType;
/* The record of the frame at `key`: borrowed, NULL (no error) when there is none. */
PyObject *cgr_frames_get(FrameTable *table, void *key);
/* Records `value` for the frame at `key`: 0, or -1 with an error set. */
int cgr_frames_set(FrameTable *table, void *key, PyObject *value);
/* Takes the record of the frame at `key` out: a new reference, NULL (no error) when there is none. */
PyObject *cgr_frames_pop(FrameTable *table, void *key);

typedef struct {
    PyObject_HEAD
    Sampler *sampler;
    FrameTable *frames;   /* CodeEvents.frames: id(frame) -> [frame id, last line, known] */
    PyObject *parameters; /* CodeEvents._parameters: id(code) -> names */
    PyObject *parameters_of; /* code_events._parameters(code) */
    PyObject *next_frame; /* CodeEvents._next_frame */
    PyObject *lines_in;   /* CodeEvents.lines_in, bound */
    PyObject *lines_known; /* id(code) -> lines_in(code): asked once per code, not once per call */
    PyObject *emit;       /* CodeEvents.emit (the recorder's emit_code) */
    /* The C EmitCode's call by items (_event.h) when `emit` is one, else NULL: set with `emit`. */
    PyObject *(*emit_items)(PyObject *emitter, PyObject *kind, PyObject *const *data, Py_ssize_t ndata,
                            PyObject *code, PyObject *line);
    PyObject *call_kind, *return_kind; /* ints */
    PyObject *nothing;
    PyObject *s_call, *s_resume, *s_return, *s_yield;
    PyObject *rec;        /* CodeEvents.rec: its `dropped` counts what the callbacks could not record */
    PyObject *traced;     /* CodeEvents.traced: id(code) -> user code? */
    PyObject *local;      /* the tracer's id(code) -> local events switched on (use_start) */
    PyObject *start_fallback; /* the tracer's Python PY_START callback (use_start) */
    /* Lines (_line_events.c): */
    PyObject *line_kind;      /* an int */
    PyObject *unbound;        /* code_events._UNBOUND */
    PyObject *hidden_globals; /* snapshot._HIDDEN_GLOBALS */
    PyObject *frame_counter;  /* the itertools.count behind next_frame, or NULL */
    /* Every call asked three dicts by a new int (id(code)) and worked out its
     * line from the line table again: 10% of a call-heavy program's recording.
     * Those dicts are written once per id(code), so their answer is kept. */
    CodeSlot code_slots[CODE_SLOTS];
} FrameEvents;

/* FrameEvents.enter(frame, resumed) and .leave(frame, value, yielded): CodeEvents.enter and .leave. */
PyObject *FrameEvents_enter(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
PyObject *FrameEvents_leave(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
/* Whether frames of `code` record lines: lines_known[id(code)], kept in the code's slot. Not yet asked:
 * with `ask`, lines_in decides and lines_known remembers; without, -1 and no error. -1 with an error set on error. */
int cgr_with_lines(FrameEvents *self, PyCodeObject *code, int ask);
/* Adds SettraceHook (_settrace_hook.c) to the module where this Python has it (3.11); -1 on error. */
int cgr_settrace_hook_add(PyObject *module);
/* emit(kind, data, code, line), the data given as its `ndata` items (at most 3): straight into the event when
 * `emit` is the C EmitCode (_event.h), else as a tuple. What the call returns: None, or NULL with an error set. */
PyObject *cgr_emit_code(FrameEvents *self, PyObject *kind, PyObject *const *data, Py_ssize_t ndata, PyCodeObject *code,
                        PyObject *line);
/* An Exception raised inside a sys.monitoring callback counts as a dropped event; returns None (or NULL for a BaseException). */
PyObject *cgr_dropped(FrameEvents *self);
/* The held of a name's line entry (_frame_events.c): a secret's is the redacted marker. */
PyObject *cgr_entry_held(FrameEvents *self, const Limits *limits, int secret, PyObject *value, PyObject *summary);
/* FrameEvents.line(frame, line) and the LINE callback on_line(code, line). */
PyObject *cgr_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
PyObject *cgr_on_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs);

#endif
