#define _GNU_SOURCE
#include "csys.h"
#include <malloc.h>
#include <spawn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>

int berth_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int berth_malloc_trim(void) { return malloc_trim(0); }

int berth_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd, int new_session) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    int fds[3] = {stdin_fd, stdout_fd, stderr_fd};
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0) posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        else if (fds[i] == i) {
            // dup2 onto itself would keep CLOEXEC; clear it explicitly.
            posix_spawn_file_actions_adddup2(&fa, i, 100 + i);
            posix_spawn_file_actions_adddup2(&fa, 100 + i, i);
        } else posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    if (new_session) flags |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&attr, flags);
    int rc = posix_spawnp(pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int berth_spawn_fds(pid_t *pid, const char *path, char *const argv[], char *const envp[], const int *fds, int nfds) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    // Each source first moved above every target (so no dup2 overwrites a source still to be
    // read), then down to its place, which also clears CLOEXEC.
    for (int i = 0; i < nfds; i++) {
        if (fds[i] < 0) posix_spawn_file_actions_addopen(&fa, 200 + i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        else posix_spawn_file_actions_adddup2(&fa, fds[i], 200 + i);
    }
    for (int i = 0; i < nfds; i++) posix_spawn_file_actions_adddup2(&fa, 200 + i, i);
    posix_spawn_file_actions_addclosefrom_np(&fa, nfds);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int berth_block_sigchld_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGCHLD);
    return signalfd(-1, &only, SFD_CLOEXEC | SFD_NONBLOCK);
}

int berth_sig_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == sizeof info ? (int)info.ssi_signo : -1;
}

int berth_fork(void) { return fork(); }
int berth_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
ssize_t berth_splice(int fd_in, int fd_out, size_t len) { return splice(fd_in, NULL, fd_out, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK); }
int berth_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
int berth_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
#include <sys/socket.h>
int berth_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

#include <sys/ioctl.h>
#include <net/if.h>
#include <termios.h>
#include <string.h>

int berth_recv_fd(int sock) {
    char buf[4096];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return fd;
        }
    }
    return -1;
}

int berth_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int berth_tty_raw(int fd, void *saved, int saved_len) {
    struct termios t;
    if ((int)sizeof t > saved_len) return -1;
    if (tcgetattr(fd, &t) != 0) return -1;
    memcpy(saved, &t, sizeof t);
    cfmakeraw(&t);
    return tcsetattr(fd, TCSANOW, &t);
}

int berth_tty_restore(int fd, const void *saved) {
    return tcsetattr(fd, TCSANOW, (const struct termios *)saved);
}

#include <sched.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>

static int udp_bound(unsigned int addr, unsigned short port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

int berth_udp_socket(unsigned int addr, unsigned short port) { return udp_bound(addr, port); }

int berth_udp_socket_in_netns(const char *ns_path, unsigned int addr, unsigned short port) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -1;
    int target = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { close(self); return -1; }
    int fd = -1;
    if (setns(target, CLONE_NEWNET) == 0) {
        fd = udp_bound(addr, port);
        int e = errno;
        if (setns(self, CLONE_NEWNET) != 0) { abort(); }  /* never run on in the wrong namespace */
        errno = e;
    }
    close(target); close(self);
    return fd;
}

int berth_udp_recvfrom(int fd, void *buf, int len, unsigned int *addr, unsigned short *port) {
    struct sockaddr_in sa; socklen_t sl = sizeof sa;
    int n = (int)recvfrom(fd, buf, len, 0, (struct sockaddr *)&sa, &sl);
    if (n >= 0) { *addr = ntohl(sa.sin_addr.s_addr); *port = ntohs(sa.sin_port); }
    return n;
}

int berth_udp_sendto(int fd, const void *buf, int len, unsigned int addr, unsigned short port) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
    return (int)sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa);
}

int berth_reserve_port(int tcp, unsigned int addr, unsigned short port, unsigned short *out_port) {
    int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
    /* TCP: a port whose last connections linger in TIME_WAIT (another daemon served it a moment
     * ago) must still be taken, so SO_REUSEADDR for the bind; cleared right after, because the
     * kernel checks a later binder against the flag of the sockets already bound, and a hold
     * that kept it would let any other SO_REUSEADDR socket take the port too. The hold never
     * listens until LoopbackProxy makes it (loopback clients only: DNAT takes every other). */
    int one = 1, zero = 0;
    if (tcp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { int e = errno; close(fd); errno = e; return -1; }
    if (tcp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *out_port = ntohs(sa.sin_port);
    return fd;
}

#include <sys/syscall.h>
#include <linux/openat2.h>

int berth_openat2(int dirfd, const char *path, int flags, int mode, int beneath) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (unsigned long long)((flags & O_CREAT) ? mode : 0);
    how.resolve = (beneath ? RESOLVE_BENEATH : RESOLVE_IN_ROOT) | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int berth_openat2_resolve(int dirfd, const char *path, int flags, int mode, unsigned long long resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (unsigned long long)((flags & O_CREAT) ? mode : 0);
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#include <linux/mount.h>

int berth_idmapped_bind(int userns_fd, const char *src, const char *dst) {
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0) return -1;
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (unsigned long long)userns_fd;
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0 ||
        syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}

/* Reconfigures the superblock of the file system mounted at `path` with exactly the flags given
   (options without a value), through the mount API's fspick: the mount's own flags (nosuid,
   nodev, noexec) stay as they are, which a legacy MS_REMOUNT would rewrite. -1 with errno on
   failure, and the file system is then unchanged (the context is discarded). */
int berth_reconfigure_flags(const char *path, const char *const *flags, int nflags) {
    int fd = (int)syscall(SYS_fspick, AT_FDCWD, path, FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT);
    if (fd < 0) return -1;
    int rc = 0;
    for (int i = 0; i < nflags && rc == 0; i++) rc = (int)syscall(SYS_fsconfig, fd, FSCONFIG_SET_FLAG, flags[i], NULL, 0);
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);
    int e = errno;
    close(fd);
    errno = e;
    return rc == 0 ? 0 : -1;
}

#include <linux/netlink.h>
#include <sys/socket.h>

static int netlink_route_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -1;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

int berth_netlink_socket(void) { return netlink_route_socket(); }

int berth_netlink_socket_in_netns(const char *ns_path, int enable_ipv6) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -1;
    int target = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(self); errno = e; return -1; }
    int fd = -1, e = 0;
    if (setns(target, CLONE_NEWNET) == 0) {
        fd = netlink_route_socket();
        e = errno;
        if (fd >= 0 && enable_ipv6) {
            /* /proc/sys/net answers for the opening thread's namespace: this one, now. */
            int s = open("/proc/sys/net/ipv6/conf/all/disable_ipv6", O_WRONLY | O_CLOEXEC);
            if (s >= 0) { if (write(s, "0", 1) < 0) {} close(s); }
        }
        if (setns(self, CLONE_NEWNET) != 0) { abort(); }  /* never run on in the wrong namespace */
    } else {
        e = errno;
    }
    close(target); close(self);
    errno = e;
    return fd;
}

#include <stdio.h>

/* Its loopback up, as every sandbox of dockerd's (`--network none` included): the socket for
 * the ioctl is made inside the new namespace, so it acts there. */
static int loopback_up_here(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

int berth_netns_new(void) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -1;
    int fd = -1, e = 0;
    if (unshare(CLONE_NEWNET) == 0) {
        fd = loopback_up_here() == 0 ? open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
        e = errno;
        if (setns(self, CLONE_NEWNET) != 0) { abort(); }
    } else {
        e = errno;
    }
    close(self);
    errno = e;
    return fd;
}

int berth_netns_bind(int fd, const char *dir, const char *path) {
    /* As `ip netns add`: the directory a shared mount (bound on itself first when it is not a
     * mount point), so the namespaces' mounts propagate to mount namespaces made later. */
    if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL) return -1;
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return -1;
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) return -1;
    }
    int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (f < 0) return -1;
    close(f);
    char source[64];
    snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
    if (mount(source, path, "none", MS_BIND, NULL) != 0) {
        int e = errno;
        unlink(path);
        errno = e;
        return -1;
    }
    return 0;
}

#include <sys/stat.h>

int berth_is_mount_root(const char *path) {
#ifdef STATX_ATTR_MOUNT_ROOT
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0) return -1;
    if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return -1;
    return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
#else
    (void)path;
    return -1;
#endif
}

int berth_netns_create(const char *dir, const char *path) {
    int fd = berth_netns_new();
    if (fd < 0) return -1;
    int rc = berth_netns_bind(fd, dir, path);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

#include <stdint.h>

/* The memory /proc/<pid>/cmdline is read from: [arg_start, arg_end) of /proc/self/stat (fields
 * 48 and 49). A spare shim rewrites its arguments there once it knows its container, so ps and
 * pgrep show that container's, as for a shim started with them. */
static int cmdline_area(char **start, char **end) {
    char buf[4096];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* After ") " comes field 3; arg_start is field 48. */
    unsigned long long v[2] = {0, 0};
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 48) v[0] = strtoull(tok, NULL, 10);
        if (field == 49) { v[1] = strtoull(tok, NULL, 10); break; }
    }
    if (v[0] == 0 || v[1] <= v[0]) return -1;
    *start = (char *)(uintptr_t)v[0];
    *end = (char *)(uintptr_t)v[1];
    return 0;
}

long berth_cmdline_room(void) {
    char *start, *end;
    if (cmdline_area(&start, &end) != 0) return -1;
    size_t first = strnlen(start, (size_t)(end - start));
    return (long)(end - start) - (long)first - 1;
}

int berth_set_cmdline_tail(const char *text, size_t len) {
    char *start, *end;
    if (cmdline_area(&start, &end) != 0) return -1;
    char *tail = start + strnlen(start, (size_t)(end - start)) + 1;
    if (tail >= end || len > (size_t)(end - tail)) return -1;
    memset(tail, 0, (size_t)(end - tail));
    memcpy(tail, text, len);
    return 0;
}
