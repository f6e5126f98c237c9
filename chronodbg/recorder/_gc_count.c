/* The recorder's allocations kept out of the garbage collector's trigger.
 *
 * CPython runs a young collection once the allocations of GC-tracked objects
 * minus their deallocations pass a threshold (700). An event allocates
 * several tuples (the event, its data, its locals' pairs) that wait in the
 * buffer until a chunk is packed, so every recorded event pushed the count
 * towards the next collection: W3 ran 758 collections recorded against 22
 * unrecorded (71 ms against 2 ms), each one also running the program's
 * finalizers and weakref callbacks at points where it would not have.
 *
 * Instead, the counts are read before the recorder's own work (an emit, a
 * code event, a drain) and put back after it, unless a collection ran
 * meanwhile: what the recorder allocates and frees then leaves the count as
 * it found it, and the program's own allocations drive its collections as
 * they do unrecorded. Only the generations' counts are touched, through
 * CPython's internal interpreter state: the header is included only for the
 * versions this was written against (3.11 to 3.13) and where it is
 * installed; elsewhere the helpers do nothing.
 */
#define Py_BUILD_CORE 1
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 && defined(__has_include)
#if __has_include("internal/pycore_interp.h")
#define CGR_GC_COUNT 1
#include "internal/pycore_interp.h"
#endif
#endif

#include "_gc_count.h"

CgrYoung
cgr_young_save(void)
{
    CgrYoung saved = {0, 0, 0};
#ifdef CGR_GC_COUNT
    struct gc_generation *generations = PyInterpreterState_Get()->gc.generations;
    saved.young = generations[0].count;
    saved.older = generations[1].count;
    saved.valid = 1;
#endif
    return saved;
}

void
cgr_young_restore(CgrYoung saved)
{
#ifdef CGR_GC_COUNT
    struct gc_generation *generations = PyInterpreterState_Get()->gc.generations;
    /* A young collection counts one in the next generation, an older one resets it. */
    if (saved.valid && generations[1].count == saved.older) {
        generations[0].count = saved.young;
    }
#else
    (void)saved;
#endif
}
