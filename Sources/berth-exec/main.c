// berth-exec: starts one process inside a running container and lives as long as it, exiting
// with its exit code — all berthd waits for. It replaces `runc exec` (a Go start-up plus a
// re-exec, ~27 ms here) with a fork chain (nsexec.c), and it is C rather than Swift because it
// runs on every exec and a Swift binary's start-up alone costs more than everything else here.
//
//   berth-exec --pid PID [--cwd DIR] [--user UID:GID[:G1,G2…]] [--caps BND:EFF:PRM:INH:AMB]
//              [--nnp] [--seccomp FILE] [--cgroup FILE]… [--tty ROWS:COLS] [--oom N]
//              [--pid-file FILE] -- COMMAND [ARG…]
//
// The process gets this program's environment. berthd computes every value (capability masks in
// hex, the cgroup.procs files to join, the compiled seccomp filter) so nothing is parsed here.
// Without a TTY the process inherits our stdio (berthd's pipes); with one its pty comes from the
// container's own devpts and we copy it to and from our stdio.
#define _GNU_SOURCE
#include "nsexec.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A process that could not be started, as dockerd 20.10 reports it: the error text on the
 * exec's stdout stream, "\r\n"-terminated, and exit code 126 whatever the cause. */
static void fail_exec(const char *detail) {
    dprintf(1, "OCI runtime exec failed: exec failed: %s: unknown\r\n", detail);
    exit(126);
}

static void die(const char *message) {
    char text[2304];
    snprintf(text, sizeof text, "unable to start container process: %s", message);
    fail_exec(text);
}

static void *read_file(const char *path, int *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) { close(fd); return NULL; }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = 0;
    while (buf && got < st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)(st.st_size - got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += n;
    }
    close(fd);
    *len = (int)got;
    return buf;
}

static int write_all(int fd, const char *p, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= w;
    }
    return 0;
}

/* Reaps what has exited; returns 1 once `pid` has, with its code in *code. */
static int reap(pid_t pid, int *code) {
    int st, done = 0;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        if (p == pid) { *code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st); done = 1; }
    return done;
}

/* Copies stdin → master and master → stdout until the terminal's other side is gone. */
static int relay(int master, int sigfd, pid_t pid, int *code) {
    int exited = 0, stdin_open = 1;
    char buf[65536];
    for (;;) {
        struct pollfd fds[3] = {{master, POLLIN, 0}, {sigfd, POLLIN, 0}, {0, POLLIN, 0}};
        // After the exit, drain what the pty still holds, briefly (a background child may keep it open).
        int rc = poll(fds, stdin_open ? 3 : 2, exited ? 100 : -1);
        if (rc < 0) { if (errno == EINTR) continue; break; }
        if (rc == 0) break;
        if (fds[1].revents) {
            struct signalfd_siginfo info;
            while (read(sigfd, &info, sizeof info) > 0) {}
            if (reap(pid, code)) exited = 1;
        }
        if (fds[0].revents) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0) { if (write_all(1, buf, n) < 0) stdin_open = 0; }
            else if (n == 0 || (errno != EINTR && errno != EAGAIN)) break;   // EIO: the slave side is gone
        }
        if (stdin_open && fds[2].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n > 0) write_all(master, buf, n);
            else if (n == 0 || errno != EINTR) {
                // The client closed its input: on a terminal that is end-of-file, ^D.
                stdin_open = 0;
                write_all(master, "\x04", 1);
            }
        }
    }
    close(master);
    return exited;
}

static unsigned long long hex_field(char **p) {
    char *end;
    unsigned long long v = strtoull(*p, &end, 16);
    *p = *end == ':' ? end + 1 : end;
    return v;
}

int main(int argc, char **argv) {
    struct berth_exec_spec s = {0};
    s.cwd = "/";
    s.oom_score_adj = INT_MIN;
    const char *seccomp_file = NULL, *pid_file = NULL;
    char **cgroups = calloc((size_t)argc + 1, sizeof(char *));
    unsigned int groups[NGROUPS_MAX > 65536 ? 65536 : NGROUPS_MAX];
    int ncg = 0, i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) { i++; break; }
        if (!strcmp(a, "--nnp")) { s.no_new_privs = 1; continue; }
        if (!v) die("usage: berth-exec --pid PID [options] -- COMMAND [ARG...]");
        i++;
        if (!strcmp(a, "--pid")) s.target_pid = atoi(v);
        else if (!strcmp(a, "--cwd")) s.cwd = v;
        else if (!strcmp(a, "--seccomp")) seccomp_file = v;
        else if (!strcmp(a, "--pid-file")) pid_file = v;
        else if (!strcmp(a, "--cgroup")) cgroups[ncg++] = (char *)v;
        else if (!strcmp(a, "--oom")) s.oom_score_adj = atoi(v);
        else if (!strcmp(a, "--tty")) {
            s.tty = 1;
            unsigned rows = 0, cols = 0;
            sscanf(v, "%u:%u", &rows, &cols);
            s.rows = (unsigned short)rows;
            s.cols = (unsigned short)cols;
        } else if (!strcmp(a, "--user")) {
            char *p = (char *)v, *end;
            s.uid = (unsigned)strtoul(p, &end, 10);
            s.gid = *end == ':' ? (unsigned)strtoul(end + 1, &end, 10) : 0;
            while (*end == ':' || *end == ',') {
                p = end + 1;
                if (!*p || s.ngroups >= (int)(sizeof groups / sizeof groups[0])) break;
                groups[s.ngroups++] = (unsigned)strtoul(p, &end, 10);
            }
        } else if (!strcmp(a, "--caps")) {
            char *p = (char *)v;
            s.cap_bounding = hex_field(&p);
            s.cap_effective = hex_field(&p);
            s.cap_permitted = hex_field(&p);
            s.cap_inheritable = hex_field(&p);
            s.cap_ambient = hex_field(&p);
        } else die("usage: berth-exec --pid PID [options] -- COMMAND [ARG...]");
    }
    if (s.target_pid <= 0 || i >= argc) die("usage: berth-exec --pid PID [options] -- COMMAND [ARG...]");
    if (s.cwd[0] != '/') fail_exec("Cwd must be an absolute path");   // runc validates the spec first
    s.argv = argv + i;
    s.envp = environ;
    s.path_env = getenv("PATH");
    s.groups = groups;
    s.cgroup_procs = cgroups;
    if (seccomp_file) {
        s.seccomp = read_file(seccomp_file, &s.seccomp_len);
        if (!s.seccomp) die("reading the seccomp filter failed");
    }
    // SIGCHLD through a descriptor, so the relay can poll for the exit with the terminal.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);

    char err[2048];
    int master = -1, code = 0;
    pid_t pid = berth_nsexec(&s, &master, err, sizeof err, &code);
    if (pid <= 0) die(err);
    if (pid_file) {
        int fd = open(pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) { dprintf(fd, "%d", pid); close(fd); }
    }
    if (master >= 0 && relay(master, sigfd, pid, &code)) return code;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno != EINTR) return 255;
        if (p == pid) return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    }
}
