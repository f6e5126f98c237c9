/* The garbage collector's allocation count around the recorder's own work (see _gc_count.c). */
#ifndef CGR_GC_COUNT_H
#define CGR_GC_COUNT_H

typedef struct {
    int young;   /* the young generation's count */
    int older;   /* the next generation's, which tells whether a collection ran */
    int valid;   /* 0 where the counts cannot be read */
} CgrYoung;

CgrYoung cgr_young_save(void);
/* The young count back to what it was, unless a collection ran since. */
void cgr_young_restore(CgrYoung saved);

#endif
