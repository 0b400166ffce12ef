// Starting a process inside a running container without an OCI runtime: what `runc exec` does,
// in one fork chain and no re-exec. berth-exec is single-threaded C (setns into a mount namespace
// refuses a multithreaded caller anyway), so it may fork freely.
//
//   helper (subreaper, host namespaces)
//     └─ child: joins the container's cgroups, becomes non-dumpable, enters its namespaces
//          └─ grandchild (inside the pid namespace): session, terminal, seccomp, capabilities,
//             user, cwd → execve. The child exits at once, so the grandchild is reparented to
//             the helper, which waits for it.
//
// The children talk back over a SOCK_SEQPACKET pair: 'P' + pid, 'M' + the pty master (SCM_RIGHTS),
// 'E' + exit code + message. Its child end is close-on-exec, so EOF means the execve succeeded.
#define _GNU_SOURCE
#include "nsexec.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void send_msg(int sock, char kind, const void *data, size_t len, int fd) {
    char buf[4096];
    if (len > sizeof buf - 1) len = sizeof buf - 1;
    buf[0] = kind;
    memcpy(buf + 1, data, len);
    struct iovec iov = {.iov_base = buf, .iov_len = len + 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

/* Reports a failure to the helper and exits; code is what Docker's exec gives (126 or 127). */
static void fail(int sock, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void fail(int sock, int code, const char *fmt, ...) {
    char text[2048];
    text[0] = (char)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + 1, sizeof text - 1, fmt, ap);
    va_end(ap);
    send_msg(sock, 'E', text, strlen(text + 1) + 1, -1);
    _exit(code);
}

/* Go's error strings, which runc's messages carry: strerror's text, lower-cased first letter. */
static const char *go_strerror(int e) {
    static char buf[128];
    snprintf(buf, sizeof buf, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static int write_file(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, value, strlen(value));
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

static int is_executable_file(const char *path, int *err) {
    struct stat st;
    if (stat(path, &st) < 0) { *err = errno; return 0; }
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) { *err = EACCES; return 0; }
    return 1;
}

/* Go's exec.LookPath, as runc uses it: the message texts are the ones Docker users see. */
static void exec_program(int sock, const struct berth_exec_spec *s) {
    const char *file = s->argv[0];
    int err = 0;
    if (strchr(file, '/')) {
        if (!is_executable_file(file, &err)) {
            if (err == ENOENT) fail(sock, 127, "exec: \"%s\": stat %s: no such file or directory", file, file);
            fail(sock, 126, "exec: \"%s\": %s", file, go_strerror(err));
        }
        execve(file, s->argv, s->envp);
        err = errno;
        fail(sock, err == ENOENT ? 127 : 126, "%s: %s", file, go_strerror(err));
    }
    const char *path = s->path_env ? s->path_env : "";
    char candidate[PATH_MAX];
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t n = (size_t)(end - p);
        if (n == 0) snprintf(candidate, sizeof candidate, "./%s", file);
        else snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, file);
        int e = 0;
        if (is_executable_file(candidate, &e)) {
            execve(candidate, s->argv, s->envp);
            err = errno;
            fail(sock, err == ENOENT ? 127 : 126, "%s: %s", candidate, go_strerror(err));
        }
        if (*end == 0) break;
        p = end;
    }
    fail(sock, 127, "exec: \"%s\": executable file not found in $PATH", file);
}

static int load_seccomp(const struct berth_exec_spec *s) {
    struct sock_fprog prog = {.len = (unsigned short)(s->seccomp_len / sizeof(struct sock_filter)),
                              .filter = (struct sock_filter *)s->seccomp};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static void become_process(int sock, const struct berth_exec_spec *s) {
    if (setsid() < 0) fail(sock, 126, "setsid: %s", go_strerror(errno));
    if (s->tty) {
        // The container's own devpts: the terminal is /dev/pts/N inside it, as with runc.
        int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0) fail(sock, 126, "open /dev/ptmx: %s", go_strerror(errno));
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail(sock, 126, "unlockpt: %s", go_strerror(errno));
        if (s->rows > 0 && s->cols > 0) {
            struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
            ioctl(master, TIOCSWINSZ, &ws);
        }
        int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0) fail(sock, 126, "open pty peer: %s", go_strerror(errno));
        send_msg(sock, 'M', "", 0, master);
        close(master);
        if (ioctl(slave, TIOCSCTTY, 0) < 0) fail(sock, 126, "setctty: %s", go_strerror(errno));
        for (int i = 0; i < 3; i++) dup2(slave, i);
        if (slave > 2) close(slave);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);

    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the capabilities go.
    if (s->seccomp_len > 0 && !s->no_new_privs && load_seccomp(s) < 0)
        fail(sock, 126, "loading seccomp filter: %s", go_strerror(errno));
    for (int cap = 0; cap < 64; cap++) {
        if (s->cap_bounding & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break;   // past the kernel's last capability
            fail(sock, 126, "dropping bounding capability %d: %s", cap, go_strerror(errno));
        }
    }
    // What this host lets us hold: "all capabilities" (--privileged) means all of those, where
    // asking for more would be refused (some VMs withhold one or two even from root).
    struct __user_cap_header_struct cur_hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct cur[2];
    unsigned int held[2] = {~0U, ~0U};
    if (syscall(SYS_capget, &cur_hdr, cur) == 0) { held[0] = cur[0].permitted; held[1] = cur[1].permitted; }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(sock, 126, "keepcaps: %s", go_strerror(errno));
    if (setgroups((size_t)s->ngroups, (const gid_t *)s->groups) < 0) fail(sock, 126, "setgroups: %s", go_strerror(errno));
    if (setresgid(s->gid, s->gid, s->gid) < 0) fail(sock, 126, "setgid %u: %s", s->gid, go_strerror(errno));
    if (setresuid(s->uid, s->uid, s->uid) < 0) fail(sock, 126, "setuid %u: %s", s->uid, go_strerror(errno));
    if (chdir(s->cwd) < 0)
        fail(sock, 126, "chdir to cwd (\"%s\") set in config.json failed: %s", s->cwd, go_strerror(errno));
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (unsigned int)(s->cap_effective >> (32 * i)) & held[i];
        data[i].permitted = (unsigned int)(s->cap_permitted >> (32 * i)) & held[i];
        data[i].inheritable = (unsigned int)(s->cap_inheritable >> (32 * i)) & held[i];
    }
    if (syscall(SYS_capset, &hdr, data) < 0) fail(sock, 126, "capset: %s", go_strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; cap++)
        if ((s->cap_ambient & (1ULL << cap)) && (held[cap / 32] & (1U << (cap % 32)))) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    if (s->no_new_privs) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(sock, 126, "no_new_privs: %s", go_strerror(errno));
        // As close to execve as possible, so the filter need not allow our own setup calls.
        if (s->seccomp_len > 0 && load_seccomp(s) < 0) fail(sock, 126, "loading seccomp filter: %s", go_strerror(errno));
    }
    exec_program(sock, s);
}

static void enter_container(int sock, const struct berth_exec_spec *s) {
    // Non-dumpable until execve: the container cannot open /proc/<pid>/exe (our binary) meanwhile.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    for (char *const *p = s->cgroup_procs; p && *p; p++)
        if (write_file(*p, "0") < 0) fail(sock, 126, "joining cgroup %s: %s", *p, go_strerror(errno));
    if (s->oom_score_adj != INT_MIN) {
        char v[16];
        snprintf(v, sizeof v, "%d", s->oom_score_adj);
        write_file("/proc/self/oom_score_adj", v);
    }
    // Open every namespace first: after entering the mount namespace /proc is the container's.
    // The user namespace (userns-remap) comes last: host root may enter the others, whoever
    // owns them (the network namespace belongs to the host's user namespace), and only then
    // becomes the container's remapped root.
    static const char *const kinds[] = {"cgroup", "ipc", "uts", "net", "pid", "mnt", "user"};
    enum { KINDS = 7 };
    int fds[KINDS];
    for (int i = 0; i < KINDS; i++) {
        char path[64], self[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", s->target_pid, kinds[i]);
        snprintf(self, sizeof self, "/proc/self/ns/%s", kinds[i]);
        struct stat a, b;
        fds[i] = -1;
        if (stat(path, &a) < 0) {
            if (errno == ENOENT && i == 0) continue;   // a kernel without cgroup namespaces
            fail(sock, 126, "container process %d: %s", s->target_pid, go_strerror(errno));
        }
        if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;   // shared with the host
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) fail(sock, 126, "open %s: %s", path, go_strerror(errno));
    }
    for (int i = 0; i < KINDS; i++) {
        if (fds[i] < 0) continue;
        if (setns(fds[i], 0) < 0) fail(sock, 126, "entering the container's %s namespace: %s", kinds[i], go_strerror(errno));
        close(fds[i]);
    }
    pid_t pid = fork();
    if (pid < 0) fail(sock, 126, "fork: %s", go_strerror(errno));
    if (pid == 0) become_process(sock, s);
    send_msg(sock, 'P', &pid, sizeof pid, -1);
    _exit(0);
}

int berth_nsexec(const struct berth_exec_spec *s, int *master, char *err, int errlen, int *code) {
    *master = -1;
    *code = 0;
    err[0] = 0;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        snprintf(err, (size_t)errlen, "socketpair: %s", go_strerror(errno));
        *code = 126;
        return -1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, (size_t)errlen, "fork: %s", go_strerror(errno));
        close(sp[0]); close(sp[1]);
        *code = 126;
        return -1;
    }
    if (child == 0) {
        close(sp[0]);
        enter_container(sp[1], s);
    }
    close(sp[1]);
    pid_t pid = -1;
    for (;;) {
        char buf[4096];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        char control[CMSG_SPACE(sizeof(int))];
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(sp[0], &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (buf[0] == 'P' && n >= 1 + (ssize_t)sizeof(pid_t)) memcpy(&pid, buf + 1, sizeof pid);
        else if (buf[0] == 'M') {
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            if (c && c->cmsg_type == SCM_RIGHTS) memcpy(master, CMSG_DATA(c), sizeof(int));
        } else if (buf[0] == 'E' && n >= 2) {
            *code = (unsigned char)buf[1];
            snprintf(err, (size_t)errlen, "%.*s", (int)(n - 2), buf + 2);
        }
    }
    close(sp[0]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (*code != 0 || pid <= 0) {
        if (pid > 0) while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (*master >= 0) { close(*master); *master = -1; }
        if (*code == 0) { *code = 126; snprintf(err, (size_t)errlen, "the exec helper's child failed"); }
        return -1;
    }
    return pid;
}
