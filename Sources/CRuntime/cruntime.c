#define _GNU_SOURCE
#include "cruntime.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define BRT_CALLER_MNTNS_ENV "_BERTH_RUNTIME_CALLER_MNTNS"
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static const int SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

static int fd_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & SEALS) == SEALS) return 1;
    struct statvfs vfs;
    return fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

int brt_exe_is_sealed(void) {
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int sealed = fd_is_sealed(fd);
    close(fd);
    return sealed;
}

int brt_fork_inline(int in, int out, int err) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (brt_take_stdio(in, out, err) != 0) _exit(127);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    return 0;
}

void brt_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The raw call: glibc's signal() refuses its own reserved real-time signals (32, 33). */
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } dfl = {0};
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
}

int brt_take_stdio(int in, int out, int err) {
    brt_reset_signals();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int want[3] = {in >= 0 ? in : null, out >= 0 ? out : null, err >= 0 ? err : null};
    /* Copies above 2 first, so a source that is itself 0, 1 or 2 is not overwritten early. */
    int high[3];
    for (int i = 0; i < 3; i++) {
        high[i] = want[i] >= 0 ? fcntl(want[i], F_DUPFD_CLOEXEC, 3) : -1;
        if (high[i] < 0) return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(high[i], i) < 0) return -1;
    }
    for (int i = 0; i < 3; i++) close(high[i]);
    if (null >= 0) close(null);
    return 0;
}

/* runc 1.2's way, about 1 ms: in a mount namespace of our own (its mounts slaves of the
 * host's, so nothing propagates back), the binary is bind-mounted read-only over itself and
 * executed again from there. */
static void reexec_from_private_readonly_bind(char *const argv[], char *const envp[]) {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0 || path[0] != '/') return;
    path[n] = 0;
    if (strstr(path, " (deleted)")) return;
    /* The caller's mount namespace, kept open across the execve: a container whose spec asks
     * for no mount namespace must get the caller's, not this private one. */
    int keep = open("/proc/self/ns/mnt", O_RDONLY);
    if (keep < 0) return;
    size_t count = 0;
    while (envp && envp[count]) count++;
    char **env = calloc(count + 2, sizeof(char *));
    char entry[64];
    if (!env) { close(keep); return; }
    for (size_t i = 0; i < count; i++) env[i] = envp[i];
    snprintf(entry, sizeof entry, "%s=%d", BRT_CALLER_MNTNS_ENV, keep);
    env[count] = entry;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0 || mount(path, path, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
        /* Half-done: back to the caller's namespace for the memfd way. */
        setns(keep, CLONE_NEWNS);
        close(keep);
        free(env);
        return;
    }
    execve(path, argv, env);
    setns(keep, CLONE_NEWNS);
    close(keep);
    free(env);
}

int brt_caller_mount_namespace(void) {
    const char *v = getenv(BRT_CALLER_MNTNS_ENV);
    if (!v) return -1;
    int fd = atoi(v);
    unsetenv(BRT_CALLER_MNTNS_ENV);
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (fd < 3 || len <= 0) return -1;
    target[len] = 0;
    if (strncmp(target, "mnt:[", 5) != 0) return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int brt_ensure_sealed(char *const argv[], char *const envp[]) {
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0) return -1;
    if (fd_is_sealed(exe)) { close(exe); return 0; }
    reexec_from_private_readonly_bind(argv, envp);
    /* Otherwise (no CAP_SYS_ADMIN, say): a sealed memfd copy. */
    struct stat st;
    if (fstat(exe, &st) < 0) { close(exe); return -1; }
    int mem = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mem < 0) { close(exe); return -1; }
    off_t done = 0;
    while (done < st.st_size) {
        ssize_t n = sendfile(mem, exe, NULL, (size_t)(st.st_size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { close(exe); close(mem); errno = n < 0 ? errno : EIO; return -1; }
        done += n;
    }
    close(exe);
    if (fcntl(mem, F_ADD_SEALS, SEALS) < 0) { close(mem); return -1; }
    fexecve(mem, argv, envp);
    int saved = errno;
    close(mem);
    errno = saved;
    return -1;
}

int brt_setresuid(unsigned int id) { return setresuid(id, id, id); }
int brt_setresgid(unsigned int id) { return setresgid(id, id, id); }
int brt_unshare(int flags) { return unshare(flags); }
int brt_setns(int fd, int nstype) { return setns(fd, nstype); }
int brt_pivot_root(const char *new_root, const char *put_old) { return (int)syscall(SYS_pivot_root, new_root, put_old); }
int brt_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

int brt_capget(unsigned long long *effective, unsigned long long *permitted, unsigned long long *inheritable) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0) return -1;
    *effective = data[0].effective | ((unsigned long long)data[1].effective << 32);
    *permitted = data[0].permitted | ((unsigned long long)data[1].permitted << 32);
    *inheritable = data[0].inheritable | ((unsigned long long)data[1].inheritable << 32);
    return 0;
}

int brt_capset(unsigned long long effective, unsigned long long permitted, unsigned long long inheritable) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (unsigned int)(effective >> (32 * i));
        data[i].permitted = (unsigned int)(permitted >> (32 * i));
        data[i].inheritable = (unsigned int)(inheritable >> (32 * i));
    }
    return (int)syscall(SYS_capset, &hdr, data);
}

int brt_load_seccomp(const void *filter, int len) {
    struct sock_fprog prog = {.len = (unsigned short)(len / (int)sizeof(struct sock_filter)), .filter = (struct sock_filter *)filter};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int brt_cloexec_from(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC); }

int brt_send_fd(int sock, int fd, const char *name) {
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
    return n < 0 ? -1 : 0;
}

int brt_open_pty(int *master, int *slave, char *name, int namelen) {
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    int unlock = 0;
    unsigned int n = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) { int e = errno; close(m); errno = e; return -1; }
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (s < 0) {
        snprintf(name, (size_t)namelen, "/dev/pts/%u", n);
        s = open(name, O_RDWR | O_NOCTTY);
        if (s < 0) { int e = errno; close(m); errno = e; return -1; }
    }
    snprintf(name, (size_t)namelen, "/dev/pts/%u", n);
    *master = m;
    *slave = s;
    return 0;
}

int brt_set_ctty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }
int brt_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor) {
    return mknodat(dirfd, name, mode, makedev(major, minor));
}

unsigned int brt_major(unsigned long long dev) { return major(dev); }
unsigned int brt_minor(unsigned long long dev) { return minor(dev); }
int brt_setrlimit(int resource, unsigned long long soft, unsigned long long hard) {
    struct rlimit r = {.rlim_cur = soft, .rlim_max = hard};
    return prlimit(0, resource, &r, NULL);
}
int brt_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard) {
    struct rlimit r;
    if (prlimit(0, resource, NULL, &r) < 0) return -1;
    *soft = r.rlim_cur;
    *hard = r.rlim_max;
    return 0;
}
int brt_sethostname(const char *name) { return sethostname(name, strlen(name)); }
int brt_setdomainname(const char *name) { return setdomainname(name, strlen(name)); }

int brt_socketpair(int sv[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv); }
int brt_fork(void) { return fork(); }
int brt_mkfifo(const char *path, unsigned int mode) { return mkfifo(path, mode); }
int brt_waitpid(int pid, int *status, int nohang) {
    int rc;
    while ((rc = waitpid(pid, status, nohang ? WNOHANG : 0)) < 0 && errno == EINTR) {}
    return rc;
}
int brt_decode_status(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }
long long brt_clock_ticks(void) { return sysconf(_SC_CLK_TCK); }

#include <sys/signalfd.h>
int brt_forwarding_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}
int brt_signalfd_next(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

#include <linux/bpf.h>
#include <stdlib.h>

static struct bpf_insn insn(unsigned char code, unsigned char dst, unsigned char src, short off, int imm) {
    struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
    return i;
}

int brt_attach_device_filter(int cgroup_fd, const struct brt_device_rule *rules, int n, char *log, int loglen) {
    if (n < 0 || n > 4096) { errno = EINVAL; return -1; }
    struct bpf_insn *p = calloc((size_t)n * 8 + 8, sizeof *p);
    if (!p) return -1;
    int k = 0, terminal = 0;
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);       /* r2 = ctx->access_type */
    p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);     /* r3 = r2 */
    p[k++] = insn(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);    /* r3: the access asked for */
    p[k++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);/* r2: the device type */
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0);       /* r4 = major */
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0);       /* r5 = minor */
    /* Last rule first: the first that matches decides. */
    for (int r = n - 1; r >= 0; r--) {
        const struct brt_device_rule *d = &rules[r];
        int access = d->access & 7;
        int len = 2 + (d->type ? 1 : 0) + (access != 7 ? 3 : 0) + (d->major >= 0 ? 1 : 0) + (d->minor >= 0 ? 1 : 0);
        int start = k;
#define NEXT ((short)(len - (k - start) - 1))
        if (d->type) { p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, d->type); p[k].off = NEXT; k++; }
        if (access != 7) {
            /* Every access bit asked for must be one the rule names. */
            p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0);
            p[k++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, ~access & 7);
            p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0); p[k].off = NEXT; k++;
        }
        if (d->major >= 0) { p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int)d->major); p[k].off = NEXT; k++; }
        if (d->minor >= 0) { p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int)d->minor); p[k].off = NEXT; k++; }
#undef NEXT
        p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, d->allow ? 1 : 0);
        p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        /* A rule matching everything ends the program: the verifier refuses unreachable code. */
        if (len == 2) { terminal = 1; break; }
    }
    if (!terminal) {
        p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
        p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }

    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (unsigned long long)(unsigned long)p;
    attr.insn_cnt = (unsigned)k;
    attr.license = (unsigned long long)(unsigned long)"Apache";
    if (log && loglen > 0) log[0] = 0;
    /* Without the verifier's log first (writing it costs more than the check itself); only a
     * program the kernel refuses is loaded again with the log, for the error's words. */
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    int saved = errno;
    if (prog < 0 && log && loglen > 0) {
        attr.log_buf = (unsigned long long)(unsigned long)log;
        attr.log_size = (unsigned)loglen;
        attr.log_level = 1;
        int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
        if (again >= 0) close(again);
    }
    free(p);
    if (prog < 0) {
        errno = saved;
        return -1;
    }
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (unsigned)cgroup_fd;
    attr.attach_bpf_fd = (unsigned)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr);
    saved = errno;
    close(prog);
    errno = saved;
    return rc;
}
