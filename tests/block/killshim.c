/* killshim: preloaded into crashtool by tests/img/crash.sh (LD_PRELOAD), it
 * kills the process with SIGKILL right after its Nth pwrite
 * (CRASH_KILL_AFTER=N).  A kill after a random delay mostly lands wherever
 * the writer spends its time; this one lands exactly between two writes to
 * the image, each boundary as likely as any other, so a write made in the
 * wrong order is found within a few runs.  (The block layer is built with
 * 64-bit file offsets: its pwrite calls are pwrite64.)  _GNU_SOURCE, for
 * RTLD_NEXT, comes from the build. */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static void count_write(void)
{
    static long long left = -1;
    if (left < 0) {
        const char *e = getenv("CRASH_KILL_AFTER");
        left = e ? atoll(e) : 0;
    }
    if (left > 0 && --left == 0)
        raise(SIGKILL);
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
