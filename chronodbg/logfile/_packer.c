/*
 * LogWriter.pack_chunk's per-event work in C (issue 8).
 *
 * `pack_chunk(first_seq, events, defs, last_t)` does what the Python path of
 * chronodbg/logfile/writer.py does for a chunk -- keep time non-decreasing
 * along the events and store each event's delta from the previous one, count
 * the events per kind, deduplicate the locals snapshots by identity into a
 * per-chunk list -- and writes the msgpack bytes of the chunk body directly:
 * the same bytes msgpack's Packer(default=..., unicode_errors="surrogatepass")
 * writes for the Python path's records list, snapshot list and body tuple
 * (smallest int encodings, str8/16/32, bin for bytes, float64, tuples and
 * lists as arrays, dicts as maps).
 *
 * Only exact builtin types are packed here: None, bool, int (within 64 bits),
 * float, str, bytes, tuple, list, dict; and an event's kind can also be an
 * int subclass that hashes and compares as int does (the recorder's kind
 * codes are chronodbg.kinds.Kind, an IntEnum; see plain_int). Anything else (a subclass, a bigger
 * int, a type msgpack would hand to `default`, nesting deeper than MAX_DEPTH,
 * events that are neither 8-tuples nor the C emit's events (recorder/_event.h, read by their fields),
 * an empty chunk) makes pack_chunk return None
 * and the writer runs the Python path for the whole chunk, so what is written
 * is always what the Python path writes.
 *
 * Runs holding the GIL and never calls Python code while it reads the events
 * (no __hash__, __eq__, __index__ or default is ever invoked, and no Python
 * object is made that could start the garbage collector, but the
 * OverflowError of an int beyond 64 bits, after which it reads no further),
 * so nothing it reads can change under it. Only once the body is written does it make the counts
 * dict and the result, which holds references of its own to the kinds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../recorder/_event.h"

#if PY_VERSION_HEX < 0x030B0000
#error "chronodbg's packer needs CPython 3.11 or later"
#endif

/* msgpack 1.0 raises "recursion limit exceeded" for an object nested deeper
 * than 511 (later versions allow 1024): anything deeper goes to the Python
 * path, which then does whatever the installed msgpack does. */
#define MAX_DEPTH 511

#define OK 0
#define ERR (-1)       /* a Python exception is set */
#define FALLBACK (-2)  /* not ours to pack: run the Python path */

typedef struct {
    unsigned char *buf;
    size_t len;
    size_t cap;
} Buf;

static int
buf_grow(Buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    if (need > ((size_t)PY_SSIZE_T_MAX) - b->len) {
        PyErr_NoMemory();
        return ERR;
    }
    while (cap < b->len + need)
        cap *= 2;
    unsigned char *p = PyMem_Realloc(b->buf, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return ERR;
    }
    b->buf = p;
    b->cap = cap;
    return OK;
}

#define RESERVE(b, n) \
    do { \
        if ((b)->len + (n) > (b)->cap && buf_grow((b), (n)) < 0) \
            return ERR; \
    } while (0)

static inline void
store16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static inline void
store32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void
store64(unsigned char *p, uint64_t v)
{
    store32(p, (uint32_t)(v >> 32));
    store32(p + 4, (uint32_t)v);
}

/* Writes a header of one of the three sizes (fix/16/32 or 8/16/32) and
 * returns its length; `out` needs 5 bytes. */
static inline size_t
array_header(unsigned char *out, size_t n)
{
    if (n < 16) {
        out[0] = (unsigned char)(0x90 | n);
        return 1;
    }
    if (n < 0x10000) {
        out[0] = 0xdc;
        store16(out + 1, (uint16_t)n);
        return 3;
    }
    out[0] = 0xdd;
    store32(out + 1, (uint32_t)n);
    return 5;
}

static inline size_t
map_header(unsigned char *out, size_t n)
{
    if (n < 16) {
        out[0] = (unsigned char)(0x80 | n);
        return 1;
    }
    if (n < 0x10000) {
        out[0] = 0xde;
        store16(out + 1, (uint16_t)n);
        return 3;
    }
    out[0] = 0xdf;
    store32(out + 1, (uint32_t)n);
    return 5;
}

static inline size_t
str_header(unsigned char *out, size_t n)
{
    if (n < 32) {
        out[0] = (unsigned char)(0xa0 | n);
        return 1;
    }
    if (n < 0x100) {
        out[0] = 0xd9;
        out[1] = (unsigned char)n;
        return 2;
    }
    if (n < 0x10000) {
        out[0] = 0xda;
        store16(out + 1, (uint16_t)n);
        return 3;
    }
    out[0] = 0xdb;
    store32(out + 1, (uint32_t)n);
    return 5;
}

static inline size_t
bin_header(unsigned char *out, size_t n)
{
    if (n < 0x100) {
        out[0] = 0xc4;
        out[1] = (unsigned char)n;
        return 2;
    }
    if (n < 0x10000) {
        out[0] = 0xc5;
        store16(out + 1, (uint16_t)n);
        return 3;
    }
    out[0] = 0xc6;
    store32(out + 1, (uint32_t)n);
    return 5;
}

/* msgpack_pack_unsigned_long_long: the smallest of fixint, uint8..uint64. */
static inline size_t
uint_bytes(unsigned char *p, uint64_t v)
{
    if (v < 0x80) {
        p[0] = (unsigned char)v;
        return 1;
    }
    if (v < 0x100) {
        p[0] = 0xcc;
        p[1] = (unsigned char)v;
        return 2;
    }
    if (v < 0x10000) {
        p[0] = 0xcd;
        store16(p + 1, (uint16_t)v);
        return 3;
    }
    if (v <= 0xffffffffULL) {
        p[0] = 0xce;
        store32(p + 1, (uint32_t)v);
        return 5;
    }
    p[0] = 0xcf;
    store64(p + 1, v);
    return 9;
}

/* msgpack_pack_long_long: non-negative values as above, negative ones as the
 * smallest of negative fixint, int8..int64. */
static inline size_t
int_bytes(unsigned char *p, int64_t v)
{
    if (v >= 0)
        return uint_bytes(p, (uint64_t)v);
    if (v >= -32) {
        p[0] = (unsigned char)(int8_t)v;
        return 1;
    }
    if (v >= -128) {
        p[0] = 0xd0;
        p[1] = (unsigned char)(int8_t)v;
        return 2;
    }
    if (v >= -32768) {
        p[0] = 0xd1;
        store16(p + 1, (uint16_t)(int16_t)v);
        return 3;
    }
    if (v >= INT32_MIN) {
        p[0] = 0xd2;
        store32(p + 1, (uint32_t)(int32_t)v);
        return 5;
    }
    p[0] = 0xd3;
    store64(p + 1, (uint64_t)v);
    return 9;
}

static inline int
put_uint(Buf *b, uint64_t v)
{
    RESERVE(b, 9);
    b->len += uint_bytes(b->buf + b->len, v);
    return OK;
}

static inline int
put_int(Buf *b, int64_t v)
{
    RESERVE(b, 9);
    b->len += int_bytes(b->buf + b->len, v);
    return OK;
}

static inline int
put_byte(Buf *b, unsigned char c)
{
    RESERVE(b, 1);
    b->buf[b->len++] = c;
    return OK;
}

/* Whether an int is held in one machine word, and its value then (the
 * common case, read without a call). */
#if PY_VERSION_HEX >= 0x030C0000
#define IS_COMPACT(o) PyUnstable_Long_IsCompact((PyLongObject *)(o))
#define COMPACT_VALUE(o) ((int64_t)PyUnstable_Long_CompactValue((PyLongObject *)(o)))
#else
#define IS_COMPACT(o) (Py_SIZE(o) >= -1 && Py_SIZE(o) <= 1)
#define COMPACT_VALUE(o) ((int64_t)Py_SIZE(o) * (int64_t)((PyLongObject *)(o))->ob_digit[0])
#endif

/* An int's value, if it fits in 64 signed bits: 0, or FALLBACK. */
static inline int
small_int(PyObject *o, int64_t *out)
{
    if (IS_COMPACT(o)) {
        *out = COMPACT_VALUE(o);
        return OK;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow)
        return FALLBACK;
    if (v == -1 && PyErr_Occurred())
        return ERR;
    *out = (int64_t)v;
    return OK;
}

static int
pack_long(Buf *b, PyObject *o)
{
    if (IS_COMPACT(o))
        return put_int(b, COMPACT_VALUE(o));
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0) {
        if (v == -1 && PyErr_Occurred())
            return ERR;
        return put_int(b, (int64_t)v);
    }
    if (overflow < 0)
        return FALLBACK;  /* below -2**63: msgpack's default makes it "<unpackable int>" */
    unsigned long long u = PyLong_AsUnsignedLongLong(o);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return ERR;
        PyErr_Clear();
        return FALLBACK;  /* 2**64 and above */
    }
    return put_uint(b, (uint64_t)u);
}

static int
pack_str(Buf *b, PyObject *o)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0)
        return ERR;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(o);
    if (PyUnicode_IS_ASCII(o)) {
        if ((size_t)n > 0xffffffffULL)
            return FALLBACK;
        RESERVE(b, 5 + (size_t)n);
        b->len += str_header(b->buf + b->len, (size_t)n);
        memcpy(b->buf + b->len, PyUnicode_DATA(o), (size_t)n);
        b->len += (size_t)n;
        return OK;
    }
    /* UTF-8 as str.encode("utf-8", "surrogatepass") writes it: every code
     * point on its own, a lone surrogate (or each half of a pair) in three
     * bytes. */
    int kind = PyUnicode_KIND(o);
    const void *data = PyUnicode_DATA(o);
    size_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    if (size > 0xffffffffULL)
        return FALLBACK;
    RESERVE(b, 5 + size);
    unsigned char *p = b->buf + b->len;
    p += str_header(p, size);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *p++ = (unsigned char)c;
        }
        else if (c < 0x800) {
            *p++ = (unsigned char)(0xc0 | (c >> 6));
            *p++ = (unsigned char)(0x80 | (c & 0x3f));
        }
        else if (c < 0x10000) {
            *p++ = (unsigned char)(0xe0 | (c >> 12));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
            *p++ = (unsigned char)(0x80 | (c & 0x3f));
        }
        else {
            *p++ = (unsigned char)(0xf0 | (c >> 18));
            *p++ = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
            *p++ = (unsigned char)(0x80 | (c & 0x3f));
        }
    }
    b->len = (size_t)(p - b->buf);
    return OK;
}

static int pack_obj(Buf *b, PyObject *o, int depth);

static int
pack_items(Buf *b, PyObject *const *items, Py_ssize_t n, int depth)
{
    if ((size_t)n > 0xffffffffULL)
        return FALLBACK;
    RESERVE(b, 5);
    b->len += array_header(b->buf + b->len, (size_t)n);
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = pack_obj(b, items[i], depth + 1);
        if (r < 0)
            return r;
    }
    return OK;
}

/* One value at `depth` (the packed object itself is at 0). */
static int
pack_obj(Buf *b, PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    if (depth > MAX_DEPTH)
        return FALLBACK;
    if (o == Py_None)
        return put_byte(b, 0xc0);
    if (t == &PyLong_Type)
        return pack_long(b, o);
    if (t == &PyTuple_Type)
        return pack_items(b, ((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o), depth);
    if (t == &PyUnicode_Type)
        return pack_str(b, o);
    if (o == Py_True)
        return put_byte(b, 0xc3);
    if (o == Py_False)
        return put_byte(b, 0xc2);
    if (t == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(o);
        uint64_t u;
        memcpy(&u, &d, 8);
        RESERVE(b, 9);
        b->buf[b->len] = 0xcb;
        store64(b->buf + b->len + 1, u);
        b->len += 9;
        return OK;
    }
    if (t == &PyBytes_Type) {
        size_t n = (size_t)PyBytes_GET_SIZE(o);
        if (n > 0xffffffffULL)
            return FALLBACK;
        RESERVE(b, 5 + n);
        b->len += bin_header(b->buf + b->len, n);
        memcpy(b->buf + b->len, PyBytes_AS_STRING(o), n);
        b->len += n;
        return OK;
    }
    if (t == &PyList_Type)
        return pack_items(b, ((PyListObject *)o)->ob_item, PyList_GET_SIZE(o), depth);
    if (t == &PyDict_Type) {
        Py_ssize_t n = PyDict_GET_SIZE(o);
        if ((size_t)n > 0xffffffffULL)
            return FALLBACK;
        RESERVE(b, 5);
        b->len += map_header(b->buf + b->len, (size_t)n);
        Py_ssize_t pos = 0, seen = 0;
        PyObject *key, *value;
        while (PyDict_Next(o, &pos, &key, &value)) {
            int r = pack_obj(b, key, depth + 1);
            if (r < 0)
                return r;
            r = pack_obj(b, value, depth + 1);
            if (r < 0)
                return r;
            seen++;
        }
        if (seen != n)
            return FALLBACK;  /* cannot happen without Python code running */
        return OK;
    }
    return FALLBACK;
}

/* Snapshots by identity: an open-addressing table of object addresses. */
typedef struct {
    PyObject **keys;
    Py_ssize_t *values;
    size_t mask;
    size_t used;
} IdTable;

static inline size_t
id_hash(PyObject *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 4;
    return (size_t)(h * 0x9e3779b97f4a7c15ULL >> 17);
}

static int
id_table_init(IdTable *t, size_t cap)
{
    t->keys = PyMem_Calloc(cap, sizeof(PyObject *));
    t->values = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    t->mask = cap - 1;
    t->used = 0;
    if (t->keys == NULL || t->values == NULL) {
        PyMem_Free(t->keys);
        PyMem_Free(t->values);
        t->keys = NULL;
        t->values = NULL;
        PyErr_NoMemory();
        return ERR;
    }
    return OK;
}

static void
id_table_free(IdTable *t)
{
    PyMem_Free(t->keys);
    PyMem_Free(t->values);
}

static void
id_table_put_unchecked(IdTable *t, PyObject *key, Py_ssize_t value)
{
    size_t i = id_hash(key) & t->mask;
    while (t->keys[i] != NULL)
        i = (i + 1) & t->mask;
    t->keys[i] = key;
    t->values[i] = value;
    t->used++;
}

/* The index stored for `key`, or -1. */
static inline Py_ssize_t
id_table_get(IdTable *t, PyObject *key)
{
    size_t i = id_hash(key) & t->mask;
    for (;;) {
        PyObject *k = t->keys[i];
        if (k == key)
            return t->values[i];
        if (k == NULL)
            return -1;
        i = (i + 1) & t->mask;
    }
}

static int
id_table_put(IdTable *t, PyObject *key, Py_ssize_t value)
{
    if ((t->used + 1) * 2 > t->mask + 1) {
        IdTable bigger;
        if (id_table_init(&bigger, (t->mask + 1) * 2) < 0)
            return ERR;
        for (size_t i = 0; i <= t->mask; i++)
            if (t->keys[i] != NULL)
                id_table_put_unchecked(&bigger, t->keys[i], t->values[i]);
        id_table_free(t);
        *t = bigger;
    }
    id_table_put_unchecked(t, key, value);
    return OK;
}

/* Events per kind, in the order kinds first appear (the Python path's dict order). */
#define SMALL_KINDS 256

typedef struct {
    int64_t value;
    PyObject *kind;  /* the first event's own object (a strong reference) */
    Py_ssize_t count;
} KindCount;

typedef struct {
    Py_ssize_t slot_of[SMALL_KINDS];  /* -1: not seen */
    KindCount *slots;
    Py_ssize_t n;
    Py_ssize_t cap;
} Kinds;

static inline int
count_kind(Kinds *k, PyObject *kind, int64_t value)
{
    Py_ssize_t slot = -1;
    if (value >= 0 && value < SMALL_KINDS) {
        slot = k->slot_of[value];
    }
    else {
        for (Py_ssize_t i = 0; i < k->n; i++)
            if (k->slots[i].value == value) {
                slot = i;
                break;
            }
    }
    if (slot >= 0) {
        k->slots[slot].count++;
        return OK;
    }
    if (k->n == k->cap) {
        Py_ssize_t cap = k->cap ? k->cap * 2 : 16;
        KindCount *p = PyMem_Realloc(k->slots, (size_t)cap * sizeof(KindCount));
        if (p == NULL) {
            PyErr_NoMemory();
            return ERR;
        }
        k->slots = p;
        k->cap = cap;
    }
    slot = k->n++;
    k->slots[slot].value = value;
    k->slots[slot].kind = Py_NewRef(kind);
    k->slots[slot].count = 1;
    if (value >= 0 && value < SMALL_KINDS)
        k->slot_of[value] = slot;
    return OK;
}

/* An int, or an instance of a subclass of int that compares and hashes as
 * int does (chronodbg.kinds.Kind, an IntEnum: the recorder's kind codes) and
 * so counts as its value in a dict and packs as its value (msgpack packs
 * int subclasses as ints); not a bool, which msgpack packs as a bool. */
static inline int
plain_int(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyLong_Type)
        return 1;
    return PyLong_Check(o) && t != &PyBool_Type && t->tp_hash == PyLong_Type.tp_hash &&
           t->tp_richcompare == PyLong_Type.tp_richcompare;
}

/* A CgrEvent's inline data (recorder/_event.h), packed as the tuple it stands for. */
static inline int
pack_inline_data(Buf *b, PyObject *e)
{
    CgrEvent *own = (CgrEvent *)e;
    return pack_items(b, own->inline_data, own->ndata, 2);
}

/* An event's time: OK, FALLBACK for an event that is neither a CgrEvent nor an 8-tuple starting with an
 * int, or ERR. */
static inline int
event_time(PyObject *e, PyTypeObject *event_type, int64_t *t)
{
    if (Py_TYPE(e) == event_type) {
        *t = ((CgrEvent *)e)->t;
        return OK;
    }
    if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 8 || !PyLong_CheckExact(PyTuple_GET_ITEM(e, 0)))
        return FALLBACK;
    int r = small_int(PyTuple_GET_ITEM(e, 0), t);
    return r < 0 ? r : OK;
}

/* The body, the per-kind counts and the last time; FALLBACK or ERR. */
static int
pack_chunk_impl(PyObject *first_seq, PyObject *events, PyObject *defs, PyObject *last_t_obj,
                Buf *ev, Buf *sn, Buf *hd, IdTable *ids, Kinds *kinds,
                Py_ssize_t *nsnap_out, int64_t *last_t_out)
{
    int r;
    PyObject *const *items;
    Py_ssize_t n;
    if (PyList_CheckExact(events)) {
        items = ((PyListObject *)events)->ob_item;
        n = PyList_GET_SIZE(events);
    }
    else if (PyTuple_CheckExact(events)) {
        items = ((PyTupleObject *)events)->ob_item;
        n = PyTuple_GET_SIZE(events);
    }
    else {
        return FALLBACK;
    }
    if (n == 0 || (size_t)n > 0xffffffffULL)
        return FALLBACK;
    if (!PyLong_CheckExact(last_t_obj))
        return FALLBACK;
    int64_t prev, t;
    if ((r = small_int(last_t_obj, &prev)) < 0)
        return r;
    PyTypeObject *event_type = cgr_event_type();
    if ((r = event_time(items[0], event_type, &t)) != OK)
        return r;
    if (t > prev)
        prev = t;
    int64_t base_t = prev;

    /* A guess at the size, so that a chunk grows its buffer once or twice. */
    RESERVE(ev, (size_t)n * 24 + 16);
    ev->len += array_header(ev->buf, (size_t)n);
    Py_ssize_t nsnap = 0;
    PyObject *last_snap = NULL;
    Py_ssize_t last_index = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = items[i];
        PyObject *const *f = cgr_event_items(e, event_type);
        int64_t kind;
        if (f == NULL || !plain_int(f[3]))
            return FALLBACK;
        if ((r = event_time(e, event_type, &t)) != OK || (r = small_int(f[3], &kind)) < 0)
            return r;
        if ((r = count_kind(kinds, f[3], kind)) < 0)
            return r;
        if (t < prev)
            t = prev;
        RESERVE(ev, 10);
        ev->buf[ev->len++] = 0x98;
        ev->len += uint_bytes(ev->buf + ev->len, (uint64_t)t - (uint64_t)prev);
        if ((r = pack_obj(ev, f[1], 2)) < 0 || (r = pack_obj(ev, f[2], 2)) < 0 ||
            (r = put_int(ev, kind)) < 0 ||
            (r = pack_obj(ev, f[4], 2)) < 0 || (r = pack_obj(ev, f[5], 2)) < 0 ||
            (r = f[6] != NULL ? pack_obj(ev, f[6], 2) : pack_inline_data(ev, e)) < 0)
            return r;
        PyObject *snap = f[7];
        if (snap == Py_None) {
            if ((r = put_byte(ev, 0xc0)) < 0)
                return r;
        }
        else {
            Py_ssize_t index;
            if (snap == last_snap) {
                index = last_index;
            }
            else {
                index = id_table_get(ids, snap);
                if (index < 0) {
                    index = nsnap++;
                    if ((r = id_table_put(ids, snap, index)) < 0)
                        return r;
                    /* The snapshot list is packed at depth 0, each snapshot at 1. */
                    if ((r = pack_obj(sn, snap, 1)) < 0)
                        return r;
                }
                last_snap = snap;
                last_index = index;
            }
            if ((r = put_uint(ev, (uint64_t)index)) < 0)
                return r;
        }
        prev = t;
    }

    /* The body's head: [first_seq, count, base_t, defs, ... */
    if ((r = put_byte(hd, 0x97)) < 0 || (r = pack_obj(hd, first_seq, 1)) < 0 ||
        (r = put_uint(hd, (uint64_t)n)) < 0 || (r = put_int(hd, base_t)) < 0 ||
        (r = pack_obj(hd, defs, 1)) < 0)
        return r;
    *nsnap_out = nsnap;
    *last_t_out = prev;
    return OK;
}

static PyObject *
make_result(Buf *ev, Buf *sn, Buf *hd, Kinds *kinds, Py_ssize_t nsnap, int64_t last_t)
{
    unsigned char ev_head[5], count_bytes[9], sn_head[5], sn_array[5];
    size_t ev_head_len = bin_header(ev_head, ev->len);
    size_t count_len = uint_bytes(count_bytes, (uint64_t)nsnap);
    size_t sn_array_len = array_header(sn_array, (size_t)nsnap);
    size_t sn_head_len = bin_header(sn_head, sn_array_len + sn->len);
    if (ev->len > 0xffffffffULL || sn_array_len + sn->len > 0xffffffffULL)
        Py_RETURN_NONE;
    size_t total = hd->len + ev_head_len + ev->len + count_len + sn_head_len + sn_array_len + sn->len;
    PyObject *body = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (body == NULL)
        return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(body);
#define APPEND(src, n) do { memcpy(p, (src), (n)); p += (n); } while (0)
    APPEND(hd->buf, hd->len);
    APPEND(ev_head, ev_head_len);
    APPEND(ev->buf, ev->len);
    APPEND(count_bytes, count_len);
    APPEND(sn_head, sn_head_len);
    APPEND(sn_array, sn_array_len);
    if (sn->len)
        APPEND(sn->buf, sn->len);
#undef APPEND

    PyObject *counts = PyDict_New();
    if (counts == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < kinds->n; i++) {
        PyObject *count = PyLong_FromSsize_t(kinds->slots[i].count);
        if (count == NULL || PyDict_SetItem(counts, kinds->slots[i].kind, count) < 0) {
            Py_XDECREF(count);
            Py_DECREF(counts);
            goto error;
        }
        Py_DECREF(count);
    }
    PyObject *last = PyLong_FromLongLong((long long)last_t);
    if (last == NULL) {
        Py_DECREF(counts);
        goto error;
    }
    PyObject *result = PyTuple_New(3);
    if (result == NULL) {
        Py_DECREF(counts);
        Py_DECREF(last);
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, body);
    PyTuple_SET_ITEM(result, 1, counts);
    PyTuple_SET_ITEM(result, 2, last);
    return result;
error:
    Py_DECREF(body);
    return NULL;
}

PyDoc_STRVAR(pack_chunk_doc,
"pack_chunk(first_seq, events, defs, last_t, /)\n--\n\n"
"The chunk body LogWriter.pack_chunk's Python path would pack for these\n"
"events (time clamped to at least last_t), as (body, counts, last_t); None\n"
"when the events hold anything but exact builtin types it packs here, and\n"
"the Python path must run instead.");

/* What pack_chunk keeps between calls (under the GIL): a chunk's buffers
 * and its snapshot table, up to SPARE_LIMIT bytes each. */
#define SPARE_LIMIT ((size_t)4 << 20)
static struct {
    Buf ev, sn, hd;
    IdTable ids;
    int busy;
} spare;

static void
free_buf(Buf *b)
{
    PyMem_Free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

/* After a pack: its buffers and table become the spare, emptied by the next
 * pack, when they were the spare's (`reused`) or there is none; else they
 * are freed. A buffer past SPARE_LIMIT is freed, and a table past it ends
 * the spare. */
static void
keep_spare(int reused, Buf *ev, Buf *sn, Buf *hd, IdTable *ids)
{
    int keep = reused || (!spare.busy && spare.ids.keys == NULL);
    if (!keep || (ids->mask + 1) * (sizeof(PyObject *) + sizeof(Py_ssize_t)) > SPARE_LIMIT) {
        free_buf(ev);
        free_buf(sn);
        free_buf(hd);
        id_table_free(ids);
        if (reused) {
            memset(&spare, 0, sizeof(spare));
        }
        return;
    }
    Buf *bufs[] = {ev, sn, hd};
    for (size_t i = 0; i < 3; i++) {
        if (bufs[i]->cap > SPARE_LIMIT) {
            free_buf(bufs[i]);
        }
    }
    spare.ev = *ev, spare.sn = *sn, spare.hd = *hd, spare.ids = *ids;
    spare.busy = 0;
}

static PyObject *
pack_chunk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "pack_chunk() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    Buf ev = {NULL, 0, 0}, sn = {NULL, 0, 0}, hd = {NULL, 0, 0};
    IdTable ids;
    Kinds kinds;
    PyObject *result = NULL;
    Py_ssize_t nsnap = 0;
    int64_t last_t = 0;
    /* The last chunk's buffers and table, emptied, unless another pack is
     * using them (a call made while one runs): no growing them again from
     * nothing at every chunk. */
    int reused = !spare.busy && spare.ids.keys != NULL;
    if (reused) {
        spare.busy = 1;
        ev = spare.ev, sn = spare.sn, hd = spare.hd, ids = spare.ids;
        ev.len = sn.len = hd.len = 0;
        /* Stale addresses could match new objects: every slot is emptied. */
        memset(ids.keys, 0, (ids.mask + 1) * sizeof(PyObject *));
        ids.used = 0;
    }
    else if (id_table_init(&ids, 64) < 0)
        return NULL;
    memset(kinds.slot_of, 0xff, sizeof(kinds.slot_of));
    kinds.slots = NULL;
    kinds.n = kinds.cap = 0;
    int r = pack_chunk_impl(args[0], args[1], args[2], args[3], &ev, &sn, &hd, &ids, &kinds, &nsnap, &last_t);
    if (r == OK)
        result = make_result(&ev, &sn, &hd, &kinds, nsnap, last_t);
    else if (r == FALLBACK)
        result = Py_NewRef(Py_None);
    for (Py_ssize_t i = 0; i < kinds.n; i++)
        Py_DECREF(kinds.slots[i].kind);
    PyMem_Free(kinds.slots);
    keep_spare(reused, &ev, &sn, &hd, &ids);
    return result;
}

PyDoc_STRVAR(packb_doc,
"packb(obj, /)\n--\n\n"
"msgpack's Packer(unicode_errors=\"surrogatepass\").pack(obj) for the types\n"
"pack_chunk packs, None for anything else (for tests).");

static PyObject *
packb(PyObject *module, PyObject *obj)
{
    Buf b = {NULL, 0, 0};
    PyObject *result;
    int r = pack_obj(&b, obj, 0);
    if (r == OK)
        result = PyBytes_FromStringAndSize((const char *)b.buf, (Py_ssize_t)b.len);
    else if (r == FALLBACK)
        result = Py_NewRef(Py_None);
    else
        result = NULL;
    PyMem_Free(b.buf);
    return result;
}

static PyMethodDef methods[] = {
    {"pack_chunk", (PyCFunction)(void (*)(void))pack_chunk, METH_FASTCALL, pack_chunk_doc},
    {"packb", (PyCFunction)packb, METH_O, packb_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "chronodbg.logfile._packer",
    "LogWriter.pack_chunk's per-event work in C (see chronodbg/logfile/writer.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__packer(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
