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
int berth_accept(int fd);
#endif
