#ifndef CROOTLESS_H
#define CROOTLESS_H
/* Rootless berthd's child half: before Swift's main (and before any thread exists, which
 * unshare(CLONE_NEWUSER) requires) a berthd started with _BERTH_ROOTLESS_SYNC=<fd> enters new
 * user, mount and network namespaces, waits on fd for its parent to write the id maps
 * (newuidmap/newgidmap) and attach the network (slirp4netns), and becomes root in them.
 * 0: not a rootless child; 1: entered; a negative errno-style code when a step failed (the
 * child then reports it from main, where it can print in Docker's words). */
int berth_rootless_child_state(void);
const char *berth_rootless_child_failure(void);
#endif
