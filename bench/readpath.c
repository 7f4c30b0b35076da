// bench/readpath.c: reading a capture file the ways PoolScope could, touching one byte in 64
// of it (every cache line), as the record reader does. Not part of the build:
//   cc -O2 -o /tmp/readpath bench/readpath.c && /tmp/readpath /tmp/poolscope-bench/gen-100000.pcap
// Prints the best of 3 runs of each. See BENCHMARKS.md ("Reading the file: read(2) or mmap").
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned long touch(const unsigned char *p, size_t n) {
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 64) sum += p[i];
    return sum;
}

// pread(2) in `chunk`-byte pieces from file offset 24 (after the file header, as SavefileChunks
// reads) into a buffer `offset` bytes past a page boundary.
static double by_read(int fd, size_t chunk, size_t offset, unsigned long *sum) {
    unsigned char *raw = aligned_alloc(4096, chunk + 4096), *buffer = raw + offset;
    double t0 = now();
    for (off_t at = 24;;) {
        ssize_t got = pread(fd, buffer, chunk, at);
        if (got <= 0) break;
        *sum += touch(buffer, (size_t)got);
        at += got;
    }
    double t = now() - t0;
    free(raw);
    return t;
}

// mmap(2) in `window`-byte windows, each unmapped when read (resident memory stays one window).
static double by_mmap(int fd, size_t size, size_t window, unsigned long *sum) {
    double t0 = now();
    for (size_t at = 0; at < size; at += window) {
        size_t n = size - at < window ? size - at : window;
        unsigned char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, (off_t)at);
        if (p == MAP_FAILED) { perror("mmap"); exit(1); }
        madvise(p, n, MADV_SEQUENTIAL);
        *sum += touch(p, n);
        munmap(p, n);
    }
    return now() - t0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: readpath FILE\n"); return 2; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 1; }
    unsigned long sum = 0;
    const char *names[] = {"read, 1 MB, buffer 64 bytes into a page (PoolScope)", "read, 1 MB, buffer 40 bytes into a page",
                           "read, 64 KB, buffer 64 bytes into a page", "mmap, 1 MB windows", "mmap, 8 MB windows"};
    for (int way = 0; way < 5; way++) {
        double best = 1e9;
        for (int run = 0; run < 3; run++) {
            double t = way == 0 ? by_read(fd, 1 << 20, 64, &sum) : way == 1 ? by_read(fd, 1 << 20, 40, &sum)
                     : way == 2 ? by_read(fd, 1 << 16, 64, &sum) : way == 3 ? by_mmap(fd, (size_t)st.st_size, 1 << 20, &sum)
                     : by_mmap(fd, (size_t)st.st_size, 8 << 20, &sum);
            if (t < best) best = t;
        }
        printf("%-55s %.3f s  %6.0f MB/s\n", names[way], best, st.st_size / best / 1e6);
    }
    return sum == 42 ? 3 : 0; // keeps the touching from being optimised away
}
