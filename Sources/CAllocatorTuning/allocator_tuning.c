// glibc's mallopt lives in <malloc.h>, which Swift's Glibc module does not
// import; this is the one call the CLI needs from it.
#include "allocator_tuning.h"
#include <stdlib.h> // defines __GLIBC__ under glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int poolscope_fix_mmap_threshold(int bytes) {
#if defined(__GLIBC__)
    // Setting it also turns off glibc's dynamic raising of the threshold.
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}
