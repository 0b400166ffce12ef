#ifndef CSYS_H
#define CSYS_H
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/mount.h>
// Kernel calls Swift cannot make directly (variadic prctl/ioctl) and a posix_spawn wrapper
// that sets up stdio, an optional new session and closes every other descriptor.
int berth_set_child_subreaper(void);
int berth_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd, int new_session);
int berth_block_sigchld_fd(void);
int berth_sig_read(int fd);
int berth_fork(void);

int berth_pipe(int fds[2]);
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
/* A UDP socket in the current namespace bound to addr:port (port 0: any), non-blocking. */
int berth_udp_socket(unsigned int addr, unsigned short port);
int berth_udp_recvfrom(int fd, void *buf, int len, unsigned int *addr, unsigned short *port);
int berth_udp_sendto(int fd, const void *buf, int len, unsigned int addr, unsigned short port);
/* Binds (without listening) to reserve a host port; port 0 picks one. Returns the fd and the
 * port in *out_port, or -1 with errno (EADDRINUSE). */
int berth_reserve_port(int tcp, unsigned int addr, unsigned short port, unsigned short *out_port);

/* A process to start inside a running container (see nsexec.c). */
struct berth_exec_spec {
    int target_pid;                 /* the container's init, whose namespaces are entered */
    char *const *argv;
    char *const *envp;
    const char *path_env;           /* PATH from envp, for the program lookup (NULL: none) */
    const char *cwd;
    unsigned int uid, gid;
    const unsigned int *groups;
    int ngroups;
    unsigned long long cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int no_new_privs;
    const void *seccomp;            /* a compiled filter: struct sock_filter[], or NULL */
    int seccomp_len;                /* in bytes */
    char *const *cgroup_procs;      /* cgroup.procs files to join, NULL-terminated */
    int tty;
    unsigned short rows, cols;
    int oom_score_adj;              /* INT_MIN: inherit */
};
/* Starts the process; returns its host pid (and the pty master in *master with tty). On failure
 * -1, with the message in err and in *code the exit code Docker reports (126, or 127 not found). */
int berth_nsexec(const struct berth_exec_spec *s, int *master, char *err, int errlen, int *code);
#endif
