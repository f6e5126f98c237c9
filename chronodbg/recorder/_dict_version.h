/*
 * A dict's version tag, shared by the recorder's C extensions (_hotpath.c,
 * _sampler.c): a new, interpreter-wide unique number at each change of any
 * dict, through 3.13. 3.14 keeps no such number; there CGR_DICT_VERSIONS is
 * not defined and the callers look up every time.
 */
#ifndef CHRONODBG_DICT_VERSION_H
#define CHRONODBG_DICT_VERSION_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030E0000
#define CGR_DICT_VERSIONS 1
static inline uint64_t
dict_version(PyObject *dict)
{
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    return ((PyDictObject *)dict)->ma_version_tag;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#endif

#endif
