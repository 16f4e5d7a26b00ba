/* A slow disk for both servers (issue 15, P3): LD_PRELOAD this and every fdatasync/fsync of the
 * process sleeps SLOWSYNC_US microseconds after the real one, as a slower device would make it
 * wait. redis-server and kvserver (os.fdatasync) both call libc's fdatasync, so both are slowed
 * the same way; the sleep uses no CPU. Built and used by `bench_cpu --slow-fsync-ms N`:
 *     cc -O2 -shared -fPIC -o slowsync.so tests/bench/slowsync.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static long delay_us(void) { static long d = -1; if (d < 0) { const char *s = getenv("SLOWSYNC_US"); d = s ? atol(s) : 0; } return d; }
static void pause_us(long us) { struct timespec t = { us / 1000000, (us % 1000000) * 1000 }; while (nanosleep(&t, &t) != 0) {} }
int fdatasync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fdatasync"); int r = real(fd); pause_us(delay_us()); return r; }
int fsync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fsync"); int r = real(fd); pause_us(delay_us()); return r; }
