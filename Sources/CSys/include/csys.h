#ifndef CSYS_H
#define CSYS_H
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/mount.h>
// Kernel calls Swift cannot make directly (variadic prctl/ioctl) and a posix_spawn wrapper
// that sets up stdio, an optional new session and closes every other descriptor.
int berth_set_child_subreaper(void);
/// malloc_trim(0): freed heap pages back to the kernel (a long-lived small process after a burst).
int berth_malloc_trim(void);
int berth_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd, int new_session);
/* posix_spawn with descriptor fds[i] as the child's i (a negative one: /dev/null), every
 * other descriptor closed. */
int berth_spawn_fds(pid_t *pid, const char *path, char *const argv[], char *const envp[], const int *fds, int nfds);
int berth_block_sigchld_fd(void);
int berth_sig_read(int fd);
int berth_fork(void);

int berth_pipe(int fds[2]);
/* splice(2) of up to len bytes between descriptors (one of them a pipe), without blocking on the pipe. */
ssize_t berth_splice(int fd_in, int fd_out, size_t len);
int berth_set_nonblocking(int fd);
/* F_SETPIPE_SZ: the pipe's capacity in bytes (rounded up to a power-of-two number of pages); the new size or -1. */
int berth_set_pipe_size(int fd, int size);
/* Receives one file descriptor sent with SCM_RIGHTS (runc's --console-socket). */
int berth_recv_fd(int sock);
int berth_set_winsize(int fd, unsigned short rows, unsigned short cols);
int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
/* Puts a terminal in raw mode; the previous settings go to saved (at least 64 bytes). */
int berth_tty_raw(int fd, void *saved, int saved_len);
int berth_tty_restore(int fd, const void *saved);
int berth_accept(int fd);
/* A UDP socket bound to addr:port (host byte order) inside the network namespace at ns_path:
 * the calling thread enters that namespace, makes the socket and comes back. -1 on error. */
int berth_udp_socket_in_netns(const char *ns_path, unsigned int addr, unsigned short port);
/* A NETLINK_ROUTE socket (bound, close-on-exec) in the current network namespace. */
int berth_netlink_socket(void);
/* A NETLINK_ROUTE socket in the network namespace at ns_path: the calling thread enters it,
 * makes the socket (which stays bound to that namespace), switches the namespace's IPv6 on
 * when asked, and comes back. -1 with errno on error. */
int berth_netlink_socket_in_netns(const char *ns_path, int enable_ipv6);
/* A new network namespace kept at `path` under `dir`, as `ip netns add` makes one (the file,
 * the bind mount of the namespace, `dir` a shared mount); the calling thread comes back to its
 * own namespace. 0, or -1 with errno (nothing left behind). */
int berth_netns_create(const char *dir, const char *path);
/* A new network namespace, its loopback up, held by the returned descriptor only
 * (close-on-exec); the calling thread comes back to its own namespace. -1 with errno. */
int berth_netns_new(void);
/* The namespace `fd` holds, kept at `path` under `dir` as berth_netns_create keeps one. 0, or
 * -1 with errno (nothing left behind); `fd` stays open either way. */
int berth_netns_bind(int fd, const char *dir, const char *path);
/* Whether `path` (its last component not followed) is the root of a mount, from statx's
 * STATX_ATTR_MOUNT_ROOT: 1 or 0; -1 when the kernel does not report it or statx fails. */
int berth_is_mount_root(const char *path);
/* A UDP socket in the current namespace bound to addr:port (port 0: any), non-blocking. */
int berth_udp_socket(unsigned int addr, unsigned short port);
int berth_udp_recvfrom(int fd, void *buf, int len, unsigned int *addr, unsigned short *port);
int berth_udp_sendto(int fd, const void *buf, int len, unsigned int addr, unsigned short port);
/* Binds (without listening) to reserve a host port; port 0 picks one. Returns the fd and the
 * port in *out_port, or -1 with errno (EADDRINUSE). */
int berth_reserve_port(int tcp, unsigned int addr, unsigned short port, unsigned short *out_port);

/* openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (beneath = 0) or RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS (beneath = 1): `path` is resolved as if dirfd were the root (or must
 * stay under it), symlinks included, so nothing outside it can be reached. -1 with errno. */
int berth_openat2(int dirfd, const char *path, int flags, int mode, int beneath);
/* An idmapped bind of `src` at `dst` (open_tree clone, mount_setattr MOUNT_ATTR_IDMAP with the
 * user namespace `userns_fd`, move_mount): files owned by N on disk show (and are written) as
 * the host id N maps to in that namespace. -1 with errno. */
int berth_idmapped_bind(int userns_fd, const char *src, const char *dst);
/* A superblock reconfigured with exactly these value-less flags (fspick + fsconfig). */
int berth_reconfigure_flags(const char *path, const char *const *flags, int nflags);
/* openat2(2) with the caller's RESOLVE_* bits (O_CLOEXEC always added). -1 with errno. */
int berth_openat2_resolve(int dirfd, const char *path, int flags, int mode, unsigned long long resolve);

/* Room for arguments after argv[0] in the memory /proc/self/cmdline shows (-1: unknown), and
 * their replacement there (NUL-separated `text`, at most that room). */
long berth_cmdline_room(void);
int berth_set_cmdline_tail(const char *text, size_t len);

#endif
