#define _GNU_SOURCE
#include "crootless.h"
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/mount.h>
#include <unistd.h>

static int state = 0;
static const char *failure = "";

int berth_rootless_child_state(void) { return state; }
const char *berth_rootless_child_failure(void) { return failure; }

static void fail(const char *step) {
    failure = step;
    state = errno > 0 ? -errno : -1;
}

/* /run becomes this namespace's own tmpfs, every host entry in it a view of the host's
 * /run (kept at /run/.berth-host-run), as rootlesskit's copy-up does: `ip netns` keeps its
 * namespaces in /run/netns and iptables locks /run/xtables.lock, both the host root's.
 * Directories are bind mounts of the host's. */
static int copy_up_run(void) {
    // A detached copy of the host's /run (and any mounts below it) taken before the tmpfs
    // covers it; binding the path afterwards would bind the tmpfs itself when /run is a plain
    // directory of the root file system.
    int host = (int)syscall(SYS_open_tree, AT_FDCWD, "/run", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    int list = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (host < 0 || list < 0) return -1;
    if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) return -1;
    if (mkdir("/run/.berth-host-run", 0755) != 0) return -1;
    if (syscall(SYS_move_mount, host, "", AT_FDCWD, "/run/.berth-host-run", MOVE_MOUNT_F_EMPTY_PATH) != 0) return -1;
    close(host);
    DIR *d = fdopendir(list);
    if (d == NULL) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "netns") || !strcmp(n, "xtables.lock") || !strcmp(n, "berth")) continue;
        char target[512], link[512];
        if (snprintf(target, sizeof target, "/run/.berth-host-run/%s", n) >= (int)sizeof target) continue;
        if (snprintf(link, sizeof link, "/run/%s", n) >= (int)sizeof link) continue;
        // Directories are bound (so that paths through them, like XDG_RUNTIME_DIR's, hold no
        // symlink for O_NOFOLLOW walks to trip on), anything else is linked.
        int ok = e->d_type == DT_DIR ? (mkdir(link, 0755) == 0 && mount(target, link, NULL, MS_BIND | MS_REC, NULL) == 0) : symlink(target, link) == 0;
        if (!ok) { closedir(d); return -1; }
    }
    closedir(d);
    return 0;
}

/* A sysfs of this network namespace on /sys (the host's shows the host's interfaces, and Berth
 * asks /sys/class/net whether its bridge exists), with the host's cgroup tree kept under it
 * for runc. */
static int own_sysfs(void) {
    int cg = (int)syscall(SYS_open_tree, AT_FDCWD, "/sys/fs/cgroup", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -1;
    if (cg >= 0) {
        if (syscall(SYS_move_mount, cg, "", AT_FDCWD, "/sys/fs/cgroup", MOVE_MOUNT_F_EMPTY_PATH) != 0) return -1;
        close(cg);
    }
    return 0;
}

__attribute__((constructor)) static void berth_rootless_child(void) {
    const char *text = getenv("_BERTH_ROOTLESS_SYNC");
    if (text == NULL) return;
    char *end = NULL;
    long fd = strtol(text, &end, 10);
    unsetenv("_BERTH_ROOTLESS_SYNC");
    if (end == text || *end != 0 || fd < 3 || fd > 1024) { errno = EINVAL; fail("sync descriptor"); return; }
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0) { fail("unshare(user, mount, network namespaces)"); close((int)fd); return; }
    char b = 'u';
    if (write((int)fd, &b, 1) != 1) { fail("telling the parent"); close((int)fd); return; }
    // The parent answers 'g' once the maps are written and the network attached, or closes.
    ssize_t n;
    do { n = read((int)fd, &b, 1); } while (n < 0 && errno == EINTR);
    close((int)fd);
    if (n != 1 || b != 'g') { errno = EPERM; fail("waiting for the id maps"); return; }
    if (setresgid(0, 0, 0) != 0) { fail("setresgid(0)"); return; }
    if (setgroups(0, NULL) != 0) { fail("setgroups"); return; }
    if (setresuid(0, 0, 0) != 0) { fail("setresuid(0)"); return; }
    // Mounts made here (layers, volumes, the sealed exec helper) stay in this namespace;
    // the host's own mounts still reach it.
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) { fail("making / a slave mount"); return; }
    if (copy_up_run() != 0) { fail("a private /run"); return; }
    if (own_sysfs() != 0) { fail("mounting sysfs"); return; }
    state = 1;
}
