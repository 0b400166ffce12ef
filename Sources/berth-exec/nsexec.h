#ifndef BERTH_NSEXEC_H
#define BERTH_NSEXEC_H
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
