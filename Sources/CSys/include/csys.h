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
#endif
