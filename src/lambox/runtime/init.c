/* The init of a Python sandbox, compiled: what lambox/runtime/init.py does, in a process
 * that shares no pages with its zygote (see that module for why a sandbox has an init).
 *
 * A forked interpreter as init holds about 1 MiB of its own, the old copies of the pages
 * its zygote and its runtime write after the fork. This program, exec'd by the init right
 * after its fork, holds only its own few pages. Built by `make install`; when it is missing
 * the Python init runs instead.
 *
 * It reaps the orphans of the namespace (SIGCHLD through a signalfd) and exits when the
 * runtime, pid 2 of the namespace, ends (a pidfd), which kills whatever is left in it.
 *
 * On x86-64 and arm64 it is built without the C library (LAMBOX_NOLIBC: its own entry point
 * and system calls): a static glibc program spends about 0.35 ms of CPU starting up before
 * main (CPU feature probing and its own set-up; measured on a VM, where each cpuid
 * instruction traps), more than everything this init does in a sandbox's life, and every
 * sandbox starts one. Elsewhere, or when that build fails, it is linked with libc. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>

#define RUNTIME 2     /* the zygote forks the runtime right after this init */
#define FIND_FOR 10   /* seconds to wait for the runtime to exist */
#define E_SRCH 3      /* ESRCH */
#define E_INTR 4      /* EINTR */
#define W_NOHANG 1    /* WNOHANG */
#define P_IN 1        /* POLLIN */
#define SIGSET_SIZE 8 /* the kernel's sigset_t */
#define SFD_FLAGS (02000000 | 04000) /* SFD_CLOEXEC | SFD_NONBLOCK */
#define CLOCK_MONO 1                 /* CLOCK_MONOTONIC */

struct poll_fd {
    int fd;
    short events;
    short revents;
};

struct time_spec {
    long sec;
    long nsec;
};

#ifdef LAMBOX_NOLIBC
/* A system call: its result, or -errno, as the kernel returns it. */
static long sys(long n, long a, long b, long c, long d, long e) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
#else
#error "LAMBOX_NOLIBC needs x86-64 or arm64"
#endif
}
#else
#include <errno.h>
#include <unistd.h>
static long sys(long n, long a, long b, long c, long d, long e) {
    long ret = syscall(n, a, b, c, d, e);
    return ret < 0 ? -errno : ret;
}
#endif

static __attribute__((noreturn)) void end(void) {
    for (;;)
        sys(SYS_exit_group, 0, 0, 0, 0, 0);
}

static long now(void) {
    struct time_spec t;
    sys(SYS_clock_gettime, CLOCK_MONO, (long)&t, 0, 0, 0);
    return t.sec;
}

static long find_runtime(void) {
    long deadline = now() + FIND_FOR + 1;
    struct time_spec pause = {0, 200000};
    for (;;) {
        long fd = sys(SYS_pidfd_open, RUNTIME, 0, 0, 0, 0);
        if (fd != -E_SRCH || now() > deadline)
            return fd;
        sys(SYS_nanosleep, (long)&pause, 0, 0, 0, 0);
    }
}

__attribute__((noreturn)) void init_main(void);
__attribute__((noreturn)) void init_main(void) {
    /* Nothing of the zygote's but what exec kept: no descriptor past stderr. */
    if (sys(SYS_close_range, 3, ~0U, 0, 0, 0) != 0)
        for (long fd = 3; fd < 65536; fd++)
            sys(SYS_close, fd, 0, 0, 0, 0);
    unsigned long chld = 1UL << (SIGCHLD - 1);
    sys(SYS_rt_sigprocmask, SIG_BLOCK, (long)&chld, 0, SIGSET_SIZE, 0);
    long heard = sys(SYS_signalfd4, -1, (long)&chld, SIGSET_SIZE, SFD_FLAGS, 0);
    long runtime = find_runtime();
    if (heard < 0 || runtime < 0)
        end();
    struct poll_fd fds[2] = {{(int)runtime, P_IN, 0}, {(int)heard, P_IN, 0}};
    char info[8 * 128]; /* struct signalfd_siginfo is 128 bytes */
    for (;;) {
        while (sys(SYS_wait4, -1, 0, W_NOHANG, 0, 0) > 0) {
        }
        long ready = sys(SYS_ppoll, (long)fds, 2, 0, 0, SIGSET_SIZE);
        if (ready < 0 && ready != -E_INTR)
            end();
        if (ready > 0 && fds[0].revents)
            end();
        while (sys(SYS_read, heard, (long)info, sizeof info, 0, 0) > 0) {
        }
    }
}

#ifdef LAMBOX_NOLIBC
/* The entry point: the stack aligned as a call expects, then the init; it never returns. */
#if defined(__x86_64__)
__asm__(".text\n.globl _start\n_start:\n\txor %ebp, %ebp\n\tand $-16, %rsp\n\tcall init_main\n");
#else
__asm__(".text\n.globl _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tbl init_main\n");
#endif
#else
int main(void) { init_main(); }
#endif
