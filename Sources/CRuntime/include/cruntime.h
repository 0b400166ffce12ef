#ifndef CRUNTIME_H
#define CRUNTIME_H
// berth-runtime's C stage: the kernel calls Swift cannot make directly (variadic prctl, ioctl
// and syscall; macros such as makedev) and the self-sealing re-exec that must happen before any
// container work. berth-runtime is single-threaded, so it may fork, unshare a user namespace and
// setns into a mount namespace; nothing here starts a thread.
#include <sys/types.h>

/* CVE-2019-5736: a container that reaches /proc/<pid>/exe of the runtime must not be able to
 * write the host's binary. Returns 0 when /proc/self/exe is already safe (a sealed memfd, or a
 * file on a read-only mount such as berthd's bind); otherwise re-executes itself from a
 * read-only bind of itself in a private mount namespace, or failing that from a sealed memfd
 * copy (returns only on failure, -1 with errno). */
int brt_ensure_sealed(char *const argv[], char *const envp[]);
/* After brt_ensure_sealed's private-namespace re-exec: a descriptor of the caller's mount
 * namespace (close-on-exec now), or -1. */
int brt_caller_mount_namespace(void);
/* 1 when /proc/self/exe is a sealed memfd or on a read-only mount, else 0. */
int brt_exe_is_sealed(void);
/* The shim's fast path: a fork of the (single-threaded) caller that is to run one runtime
 * command in place of an exec'd berth-runtime. In the child: signal mask emptied and every
 * disposition back to default (what posix_spawn gives an exec'd runtime), `in`/`out`/`err` on
 * 0/1/2 (-1: /dev/null), every other descriptor closed. Returns 0 in the child, the pid in the
 * parent, -1 on failure. */
int brt_fork_inline(int in, int out, int err);
/* In a fresh fork: signals back to their defaults and unblocked, `in`, `out`, `err` (-1:
 * /dev/null) made stdio. Other descriptors stay. -1 on failure. */
int brt_take_stdio(int in, int out, int err);
/* Every signal unblocked and back to its default disposition (a fork about to exec something
 * that is not ours: berth-shim blocks SIGCHLD and ignores SIGPIPE, which would outlive execve). */
void brt_reset_signals(void);

int brt_setresuid(unsigned int id);
int brt_setresgid(unsigned int id);
int brt_unshare(int flags);
int brt_setns(int fd, int nstype);
int brt_pivot_root(const char *new_root, const char *put_old);
int brt_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
/* Capability sets as 64-bit masks (CAP_* numbers as bits). */
int brt_capget(unsigned long long *effective, unsigned long long *permitted, unsigned long long *inheritable);
int brt_capset(unsigned long long effective, unsigned long long permitted, unsigned long long inheritable);
/* Loads a compiled classic-BPF seccomp filter (struct sock_filter[], len in bytes). */
int brt_load_seccomp(const void *filter, int len);
/* Marks every descriptor from `first` on close-on-exec (close_range), so nothing of the host
 * reaches the container's process (CVE-2024-21626's class). */
int brt_cloexec_from(unsigned int first);
/* Sends `fd` over a unix socket with SCM_RIGHTS; `name` is the payload (runc sends the pty's
 * name). */
int brt_send_fd(int sock, int fd, const char *name);
/* A new pty from /dev/ptmx (the container's devpts after pivot_root): master and slave opened,
 * slave's path in name. */
int brt_open_pty(int *master, int *slave, char *name, int namelen);
int brt_set_ctty(int fd);
int brt_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor);
unsigned int brt_major(unsigned long long dev);
unsigned int brt_minor(unsigned long long dev);
int brt_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
int brt_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard);
int brt_sethostname(const char *name);
int brt_setdomainname(const char *name);
/* SCM_RIGHTS-free message pair: SOCK_SEQPACKET, close-on-exec. */
int brt_socketpair(int sv[2]);
int brt_fork(void);
int brt_mkfifo(const char *path, unsigned int mode);
int brt_waitpid(int pid, int *status, int nohang);
int brt_decode_status(int status);
long long brt_clock_ticks(void);
/* Blocks the signals a foreground `run`/`exec` forwards (and SIGCHLD) and returns a signalfd
 * for them; brt_signalfd_next returns the next one's number (0 when none is pending). */
int brt_forwarding_signalfd(void);
int brt_signalfd_next(int fd);
/* One device cgroup rule: type 0 all, 1 block, 2 char; major/minor -1 for any; access bits
 * 1 mknod, 2 read, 4 write. */
struct brt_device_rule { int type; long long major, minor; int access; int allow; };
/* cgroup v2 has no devices controller: the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program
 * (the last matching rule decides, as the v1 files do; nothing matching: allowed) attached to
 * the cgroup directory. 0, or -1 with errno and the verifier's log in `log`. */
int brt_attach_device_filter(int cgroup_fd, const struct brt_device_rule *rules, int n, char *log, int loglen);
#endif
