/* Shared by _frame_events.c (calls and returns) and _line_events.c (lines): CodeEvents' C half. */
#ifndef CHRONODBG_FRAME_EVENTS_H
#define CHRONODBG_FRAME_EVENTS_H

#include "_sampler.h"

typedef struct {
    PyObject_HEAD
    Sampler *sampler;
    PyObject *frames;     /* CodeEvents.frames: id(frame) -> [frame id, last line, known] */
    PyObject *parameters; /* CodeEvents._parameters: id(code) -> names */
    PyObject *parameters_of; /* code_events._parameters(code) */
    PyObject *next_frame; /* CodeEvents._next_frame */
    PyObject *lines_in;   /* CodeEvents.lines_in, bound */
    PyObject *lines_known; /* id(code) -> lines_in(code): asked once per code, not once per call */
    PyObject *emit;       /* CodeEvents.emit (the recorder's emit_code) */
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
} FrameEvents;

/* FrameEvents.enter(frame, resumed) and .leave(frame, value, yielded): CodeEvents.enter and .leave. */
PyObject *FrameEvents_enter(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
PyObject *FrameEvents_leave(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
/* Adds SettraceHook (_settrace_hook.c) to the module where this Python has it (3.11); -1 on error. */
int cgr_settrace_hook_add(PyObject *module);
/* An Exception raised inside a sys.monitoring callback counts as a dropped event; returns None (or NULL for a BaseException). */
PyObject *cgr_dropped(FrameEvents *self);
/* The held of a name's line entry (_frame_events.c): a secret's is the redacted marker. */
PyObject *cgr_entry_held(FrameEvents *self, const Limits *limits, int secret, PyObject *value, PyObject *summary);
/* FrameEvents.line(frame, line) and the LINE callback on_line(code, line). */
PyObject *cgr_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs);
PyObject *cgr_on_line(PyObject *op, PyObject *const *args, Py_ssize_t nargs);

#endif
