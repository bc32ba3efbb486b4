/* killshim: preloaded into crashtool by tests/img/crash.sh (LD_PRELOAD), it
 * kills the process with SIGKILL right after its Nth pwrite
 * (CRASH_KILL_AFTER=N).  A kill after a random delay mostly lands wherever
 * the writer spends its time; this one lands exactly between two writes to
 * the image, each boundary as likely as any other, so a write made in the
 * wrong order is found within a few runs.  With CRASH_COUNT=FILE instead,
 * it kills nothing and writes the number of pwrites to FILE at exit
 * (tests/img/crash-ops.sh picks N among them).  (The block layer is built with
 * 64-bit file offsets: its pwrite calls are pwrite64.)  _GNU_SOURCE, for
 * RTLD_NEXT, comes from the build. */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static long long writes;

static void count_write(void)
{
    static long long left = -1;
    if (left < 0) {
        const char *e = getenv("CRASH_KILL_AFTER");
        left = e ? atoll(e) : 0;
    }
    writes++;
    if (left > 0 && --left == 0)
        raise(SIGKILL);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("CRASH_COUNT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%lld\n", writes);
        fclose(f);
    }
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    ssize_t r = real(fd, buf, n, off);
    count_write();
    return r;
}
