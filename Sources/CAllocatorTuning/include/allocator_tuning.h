#ifndef POOLSCOPE_ALLOCATOR_TUNING_H
#define POOLSCOPE_ALLOCATOR_TUNING_H

/// Sets glibc's mmap threshold to a fixed `bytes` (see allocator_tuning.c).
/// Returns 1 when set, 0 when the C library has no such setting.
int poolscope_fix_mmap_threshold(int bytes);

#endif
