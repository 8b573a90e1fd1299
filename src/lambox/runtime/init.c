/* The init of a Python sandbox, compiled: what lambox/runtime/init.py does, in a process
 * that shares no pages with its zygote (see that module for why a sandbox has an init).
 *
 * A forked interpreter as init holds about 1 MiB of its own, the old copies of the pages
 * its zygote and its runtime write after the fork. This program, exec'd by the init right
 * after its fork, holds only its own few pages. Built by `make install` (no library but
 * libc, linked statically); when it is missing the Python init runs instead.
 *
 * It reaps the orphans of the namespace (SIGCHLD through a signalfd) and exits when the
 * runtime, pid 2 of the namespace, ends (a pidfd), which kills whatever is left in it. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNTIME 2     /* the zygote forks the runtime right after this init */
#define FIND_FOR 10.0 /* seconds to wait for the runtime to exist */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int find_runtime(void) {
    double deadline = now() + FIND_FOR;
    struct timespec pause = {0, 200000};
    for (;;) {
        int fd = (int)syscall(SYS_pidfd_open, RUNTIME, 0);
        if (fd >= 0 || errno != ESRCH || now() > deadline)
            return fd;
        nanosleep(&pause, NULL);
    }
}

int main(void) {
    /* Nothing of the zygote's but what exec kept: no descriptor past stderr. */
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int heard = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    int runtime = find_runtime();
    if (heard < 0 || runtime < 0)
        _exit(0);
    struct pollfd fds[2] = {{runtime, POLLIN, 0}, {heard, POLLIN, 0}};
    struct signalfd_siginfo info[8];
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            _exit(0);
        if (fds[0].revents)
            _exit(0);
        while (read(heard, info, sizeof info) > 0) {
        }
    }
}
