import CRuntime
import CSys
import Glibc
import Sys

/// The container's file system, built by its init process inside the new mount namespace: the
/// spec's mounts on the root, /dev, pivot_root, then masked and read-only paths. Every path inside
/// the root is resolved on the root's descriptor with RESOLVE_IN_ROOT (a link in the image cannot
/// point a mount outside it), and mount(2) is given the resolved target as /proc/self/fd/N.
struct RootfsSetup {
    let config: RuntimeConfig
    let cgroups: CgroupPaths?
    let layout: CgroupLayout
    let userNamespace: Bool
    let cgroupNamespace: Bool
    /// Bind sources the parent opened (user namespaces), by index in the spec's mounts.
    var sources: [Int: Int32] = [:]

    static let defaultDevices: [RuntimeConfig.Device] = [
        .init(path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0),
        .init(path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0),
        .init(path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0),
        .init(path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0),
        .init(path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0),
        .init(path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0),
    ]

    var root: String { config.rootPath }

    /// Everything up to pivot_root.
    func prepare() throws(RuntimeFailure) {
        // runc's order: the asked propagation on / (rslave by default; an unbindable / could not
        // be bound for the pivot, so that one waits), the mount holding the root made private
        // (pivot_root refuses a shared one), the root bound onto itself; the propagation is
        // applied to the new / again after pivot_root.
        let asked = MountOptions.propagation[config.rootfsPropagation] ?? 0
        let prop = asked == 0 || asked & MountFlags.unbindable != 0 ? MountFlags.slave | MountFlags.rec : asked
        if mount(nil, "/", nil, prop, nil) != 0 {
            throw RuntimeFailure.errno("make / \(config.rootfsPropagation.isEmpty ? "rslave" : config.rootfsPropagation)")
        }
        if Self.mountsMayStayShared(after: prop) { try makeParentMountPrivate() }
        if mount(root, root, nil, MountFlags.bind | MountFlags.rec, nil) != 0 { throw RuntimeFailure.errno("bind mount the root \(root)") }
        let rootfd = open(root, O_PATH_ | O_DIRECTORY | O_CLOEXEC)
        guard rootfd >= 0 else { throw RuntimeFailure.errno("open the root \(root)") }
        defer { close(rootfd) }
        var devIsTmpfs = false
        for (i, m) in config.mounts.enumerated() {
            try mountOne(m, rootfd: rootfd, source: sources[i])
            if m.destination == "/dev" && m.type != "bind" { devIsTmpfs = true }
        }
        if devIsTmpfs {
            try makeDevices(rootfd: rootfd)
            try devSymlinks(rootfd: rootfd)
        } else if !config.devices.isEmpty {
            try makeDevices(rootfd: rootfd, only: config.devices)
        }
    }

    /// Whether some mount may still be shared once `/` got this propagation: a recursive slave or
    /// private change leaves none (a shared mount turned slave is no longer shared), so the
    /// mountinfo scan below, which grows with every container on the host, is skipped.
    static func mountsMayStayShared(after propagation: UInt) -> Bool {
        propagation & MountFlags.rec == 0 || propagation & (MountFlags.slave | MountFlags.private) == 0
    }

    /// pivot_root requires the new root's parent mount not to be shared: the mount the root
    /// path lives on (the image's overlay when the root is a mount point itself).
    func makeParentMountPrivate() throws(RuntimeFailure) {
        guard let info = try? FS.readString("/proc/self/mountinfo") else { return }
        var best: (point: String, shared: Bool)? = nil
        let target = root
        for line in info.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            let pre = halves[0].split(separator: " ")
            guard pre.count >= 6 else { continue }
            let point = String(pre[4])
            guard target == point || point == "/" || target.hasPrefix(point + "/") else { continue }
            let shared = pre[6...].contains { $0.hasPrefix("shared:") }
            if best == nil || point.count >= best!.point.count { best = (point, shared) }
        }
        if let b = best, b.shared, mount(nil, b.point, nil, MountFlags.private, nil) != 0 {
            throw RuntimeFailure.errno("make \(b.point) private")
        }
    }

    /// The mount target inside the root, created (a file for a file bind, else a directory);
    /// an O_PATH descriptor on it.
    func target(_ dest: String, rootfd: Int32, file: Bool) throws(RuntimeFailure) -> Int32 {
        var fd = DirFD.open(rootfd, dest, O_PATH_, .container)
        if fd >= 0 { return fd }
        guard errno == ENOENT else { throw RuntimeFailure.errno("open \(dest) in the container") }
        let parentPath = String(dest[..<(dest.lastIndex(of: "/") ?? dest.startIndex)])
        let name = String(dest[dest.index(after: dest.lastIndex(of: "/") ?? dest.startIndex)...])
        let parent: Int32
        do { parent = try DirFD.mkdirAll(rootfd, parentPath, mode: 0o755, .container) } catch {
            throw RuntimeFailure("mkdir \(parentPath) in the container: \(goErrorText(error.errno))")
        }
        defer { close(parent) }
        // The parent is resolved; the new entry is made on its descriptor (through /proc, as
        // an O_PATH descriptor cannot be used with mkdirat/openat directly on older kernels).
        let parentPath2 = DirFD.procPath(parent)
        let dirfd = open(parentPath2, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw RuntimeFailure.errno("open \(parentPath)") }
        defer { close(dirfd) }
        if file {
            let f = openat(dirfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if f >= 0 { close(f) } else if errno != EEXIST { throw RuntimeFailure.errno("create \(dest)") }
        } else if mkdirat(dirfd, name, 0o755) != 0 && errno != EEXIST {
            throw RuntimeFailure.errno("mkdir \(dest)")
        }
        fd = DirFD.open(rootfd, dest, O_PATH_, .container)
        guard fd >= 0 else { throw RuntimeFailure.errno("open \(dest) in the container") }
        return fd
    }

    func mountOne(_ m: RuntimeConfig.Mount, rootfd: Int32, source: Int32? = nil) throws(RuntimeFailure) {
        var opts = MountOptions(m.options, type: m.type)
        if m.type == "cgroup" || m.type == "cgroup2" {
            return try mountCgroups(m, opts, rootfd: rootfd)
        }
        var isFile = false
        let sourcePath = source.map { DirFD.procPath($0) } ?? m.source
        if opts.bind {
            var st = stat()
            guard stat(sourcePath, &st) == 0 else { throw RuntimeFailure.errno("mount \(m.source) to \(m.destination): stat \(m.source)") }
            isFile = (st.st_mode & S_IFMT) != S_IFDIR
        }
        let fd = try target(m.destination, rootfd: rootfd, file: isFile)
        defer { close(fd) }
        let path = DirFD.procPath(fd)
        if opts.bind {
            if mount(sourcePath, path, nil, opts.flags & (MountFlags.bind | MountFlags.rec), nil) != 0 {
                throw RuntimeFailure.errno("mount \(m.source) to \(m.destination)")
            }
            if opts.remountFlags != 0 { try onMounted(m.destination, rootfd) { p throws(RuntimeFailure) in try remount(p, opts.remountFlags, m.destination) } }
        } else {
            // /dev stays writable until the devices are in it.
            if m.destination == "/dev" { opts.flags &= ~MountFlags.rdonly }
            let data = opts.dataString
            var rc = mount(m.source, path, m.type, opts.flags, data.isEmpty ? nil : data)
            if rc != 0 && m.type == "sysfs" && (errno == EPERM || errno == EBUSY) {
                // A sysfs mount needs a network namespace of our own user namespace: bind the
                // host's instead, as runc does for rootless and shared-netns containers.
                rc = mount("/sys", path, nil, MountFlags.bind | MountFlags.rec, nil)
                if rc == 0 && opts.flags & MountFlags.rdonly != 0 {
                    try onMounted(m.destination, rootfd) { p throws(RuntimeFailure) in try remount(p, MountFlags.rdonly | opts.remountFlags, m.destination) }
                }
            } else if rc != 0 && m.type == "mqueue" && userNamespace && (errno == EPERM || errno == EBUSY) {
                rc = mount("/dev/mqueue", path, nil, MountFlags.bind | MountFlags.rec, nil)
            }
            if rc != 0 { throw RuntimeFailure.errno("mount \(m.source) to \(m.destination)") }
        }
        for flag in opts.propagation {
            try onMounted(m.destination, rootfd) { p throws(RuntimeFailure) in
                if mount(nil, p, nil, flag, nil) != 0 { throw RuntimeFailure.errno("change the propagation of \(m.destination)") }
            }
        }
    }

    /// Runs `body` on the mount now at `dest`: the descriptor taken before mounting names the
    /// directory underneath, so the path is resolved again (still inside the root).
    func onMounted(_ dest: String, _ rootfd: Int32, _ body: (String) throws(RuntimeFailure) -> Void) throws(RuntimeFailure) {
        let fd = DirFD.open(rootfd, dest, O_PATH_, .container)
        guard fd >= 0 else { throw RuntimeFailure.errno("open \(dest) in the container") }
        defer { close(fd) }
        try body(DirFD.procPath(fd))
    }

    /// A bind's read-only (or nosuid, …) remount, keeping the flags the kernel locks for a mount
    /// made in another user namespace.
    func remount(_ path: String, _ flags: UInt, _ what: String) throws(RuntimeFailure) {
        var vfs = statvfs()
        var locked: UInt = 0
        // ST_NOSUID/NODEV/NOEXEC of statvfs match MS_*; a remount that dropped them would be
        // refused in a user namespace and would loosen the source's flags outside one.
        if statvfs(path, &vfs) == 0 { locked = UInt(vfs.f_flag) & (MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec) }
        if mount(nil, path, nil, MountFlags.bind | MountFlags.remount | flags | locked, nil) != 0 {
            throw RuntimeFailure.errno("remount \(what)")
        }
    }

    /// /sys/fs/cgroup: with a cgroup namespace, the hierarchies mounted afresh (they show the
    /// container's own cgroup as their root); without one, a tmpfs with the container's cgroup
    /// directory of each hierarchy bound in (as runc does). v2-only: the one tree.
    func mountCgroups(_ m: RuntimeConfig.Mount, _ opts: MountOptions, rootfd: Int32) throws(RuntimeFailure) {
        let fd = try target(m.destination, rootfd: rootfd, file: false)
        defer { close(fd) }
        let path = DirFD.procPath(fd)
        let flags = opts.flags & ~MountFlags.bind
        if layout.v2Only {
            if cgroupNamespace {
                if mount("cgroup2", path, "cgroup2", flags, nil) != 0 { throw RuntimeFailure.errno("mount cgroup2 to \(m.destination)") }
            } else if let own = cgroups?.unified {
                if mount(own, path, nil, MountFlags.bind | MountFlags.rec, nil) != 0 { throw RuntimeFailure.errno("bind \(own) to \(m.destination)") }
                if flags & MountFlags.rdonly != 0 {
                    try onMounted(m.destination, rootfd) { p throws(RuntimeFailure) in try remount(p, flags, m.destination) }
                }
            }
            return
        }
        if mount("tmpfs", path, "tmpfs", flags & ~MountFlags.rdonly & ~MountFlags.rec, "mode=755") != 0 {
            throw RuntimeFailure.errno("mount tmpfs to \(m.destination)")
        }
        let mounted = DirFD.open(rootfd, m.destination, O_PATH_, .container)
        guard mounted >= 0 else { throw RuntimeFailure.errno("open \(m.destination)") }
        defer { close(mounted) }
        let tmpfs = DirFD.procPath(mounted)
        // Hierarchies by mount point (cpu and cpuacct may share one).
        var points: [String: [String]] = [:]
        for (controller, point) in layout.v1 { points[point, default: []].append(controller) }
        let dirfd = open(tmpfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw RuntimeFailure.errno("open \(m.destination)") }
        defer { close(dirfd) }
        for (point, controllers) in points.sorted(by: { $0.key < $1.key }) {
            let name = String(point.split(separator: "/").last ?? "")
            guard !name.isEmpty else { continue }
            mkdirat(dirfd, name, 0o755)
            let dest = tmpfs + "/" + name
            if cgroupNamespace {
                let data = controllers.sorted().joined(separator: ",")
                if mount("cgroup", dest, "cgroup", flags & ~MountFlags.rec, data) != 0 { throw RuntimeFailure.errno("mount cgroup \(data)") }
            } else if let src = controllers.compactMap({ cgroups?.byController[$0] }).first {
                if mount(src, dest, nil, MountFlags.bind | MountFlags.rec, nil) != 0 { throw RuntimeFailure.errno("bind \(src)") }
                if flags & MountFlags.rdonly != 0 { try remount(dest, flags & ~MountFlags.rec, m.destination + "/" + name) }
            }
        }
        // cpu,cpuacct-style names as links, as on the host.
        if flags & MountFlags.rdonly != 0 { try remount(tmpfs, (flags & ~MountFlags.rec) | MountFlags.rdonly, m.destination) }
    }

    func makeDevices(rootfd: Int32, only: [RuntimeConfig.Device]? = nil) throws(RuntimeFailure) {
        var list = only ?? Self.defaultDevices
        if only == nil {
            for d in config.devices {
                if let i = list.firstIndex(where: { $0.path == d.path }) { list[i] = d } else { list.append(d) }
            }
        }
        // Asked once: whether nodes are bound rather than made (uid_map read and parsed per
        // device was a tenth of a millisecond of every start).
        let bind = userNamespace || ContainerRuntimeEngine.inUserNamespace
        var parents: [String: Int32] = [:]
        defer { for fd in parents.values { close(fd) } }
        for d in list { try makeDevice(d, rootfd: rootfd, bind: bind, parents: &parents) }
    }

    /// One node, made (or bound) by its name on its directory's descriptor; directories are
    /// opened (made) once each, in the root, for every device under them.
    func makeDevice(_ d: RuntimeConfig.Device, rootfd: Int32, bind: Bool, parents: inout [String: Int32]) throws(RuntimeFailure) {
        guard d.path.hasPrefix("/dev/") else { throw RuntimeFailure("device \(d.path) is not under /dev") }
        let parentPath = String(d.path[..<(d.path.lastIndex(of: "/") ?? d.path.startIndex)])
        let name = String(d.path[d.path.index(after: d.path.lastIndex(of: "/")!)...])
        guard !name.isEmpty, name != ".", name != ".." else { throw RuntimeFailure("device \(d.path) has no name") }
        let parent: Int32
        if let known = parents[parentPath] {
            parent = known
        } else {
            do { parent = try DirFD.mkdirAll(rootfd, parentPath, mode: 0o755, .container) } catch {
                throw RuntimeFailure("mkdir \(parentPath): \(goErrorText(error.errno))")
            }
            parents[parentPath] = parent
        }
        if bind {
            // mknod is refused in a user namespace: bind the host's node onto an empty file.
            let full = DirFD.procPath(parent) + "/" + name
            let f = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if f >= 0 { close(f) }
            if mount(d.path, full, nil, MountFlags.bind, nil) != 0 { throw RuntimeFailure.errno("bind mount \(d.path)") }
            return
        }
        let type: UInt32 = d.type == "b" ? UInt32(0o060000) : d.type == "p" ? UInt32(0o010000) : UInt32(0o020000)
        guard let major = UInt32(exactly: d.major), let minor = UInt32(exactly: d.minor) else {
            throw RuntimeFailure("device \(d.path): major/minor out of range")
        }
        let mode = (d.fileMode ?? 0o666) & 0o7777
        unlinkat(parent, name, 0)
        if brt_mknodat(parent, name, type | mode, major, minor) != 0 { throw RuntimeFailure.errno("mknod \(d.path)") }
        // mknod applies the umask; the mode is the spec's.
        if fchmodat(parent, name, mode, 0) != 0 { throw RuntimeFailure.errno("chmod \(d.path)") }
        if fchownat(parent, name, d.uid ?? 0, d.gid ?? 0, AT_SYMLINK_NOFOLLOW) != 0 { throw RuntimeFailure.errno("chown \(d.path)") }
    }

    func devSymlinks(rootfd: Int32) throws(RuntimeFailure) {
        let dev: Int32
        do { dev = try DirFD.mkdirAll(rootfd, "/dev", mode: 0o755, .container) } catch { throw RuntimeFailure("open /dev: \(error)") }
        defer { close(dev) }
        let dir = DirFD.procPath(dev)
        var links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")]
        if FS.exists("/proc/kcore") { links.append(("/proc/kcore", "core")) }
        for (target, name) in links where symlink(target, dir + "/" + name) != 0 && errno != EEXIST {
            throw RuntimeFailure.errno("symlink /dev/\(name)")
        }
        // /dev/ptmx is the container's own devpts instance's.
        if config.mounts.contains(where: { $0.destination == "/dev/pts" }) {
            unlink(dir + "/ptmx")
            if symlink("pts/ptmx", dir + "/ptmx") != 0 { throw RuntimeFailure.errno("symlink /dev/ptmx") }
        }
    }

    /// pivot_root into the root, the old root unmounted (runc's pivot_root(".", ".") way).
    func pivot() throws(RuntimeFailure) {
        let oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard oldroot >= 0 else { throw RuntimeFailure.errno("open /") }
        defer { close(oldroot) }
        let newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard newroot >= 0 else { throw RuntimeFailure.errno("open \(root)") }
        defer { close(newroot) }
        guard fchdir(newroot) == 0 else { throw RuntimeFailure.errno("chdir \(root)") }
        if brt_pivot_root(".", ".") != 0 {
            // A root pivot_root refuses (an initramfs): move it over / and chroot.
            let e = errno
            guard e == EINVAL else { throw RuntimeFailure.errno("pivot_root", e) }
            if mount(".", "/", nil, MountFlags.move, nil) != 0 { throw RuntimeFailure.errno("move the root") }
            if chroot(".") != 0 { throw RuntimeFailure.errno("chroot") }
            _ = chdir("/")
            return
        }
        guard fchdir(oldroot) == 0 else { throw RuntimeFailure.errno("fchdir to the old root") }
        // The old root must not propagate the unmount back to the host.
        if mount(nil, ".", nil, MountFlags.slave | MountFlags.rec, nil) != 0 { throw RuntimeFailure.errno("make the old root rslave") }
        if umount2(".", Int32(MNT_DETACH)) != 0 { throw RuntimeFailure.errno("unmount the old root") }
        guard chdir("/") == 0 else { throw RuntimeFailure.errno("chdir /") }
        let asked = MountOptions.propagation[config.rootfsPropagation] ?? 0
        if asked != 0 && asked & MountFlags.private == 0 && mount(nil, "/", nil, asked, nil) != 0 {
            throw RuntimeFailure.errno("make / \(config.rootfsPropagation)")
        }
    }

    /// After pivot_root: /dev read-only if asked, masked and read-only paths, sysctls, the read-only root.
    func finalize() throws(RuntimeFailure) {
        if let dev = config.mounts.first(where: { $0.destination == "/dev" && $0.type != "bind" }), MountOptions(dev.options).flags & MountFlags.rdonly != 0 {
            try remount("/dev", MountFlags.rdonly | MountOptions(dev.options).remountFlags, "/dev")
        }
        for (key, value) in config.sysctl.sorted(by: { $0.key < $1.key }) {
            guard !key.contains("/"), !key.split(separator: ".").contains("..") else { throw RuntimeFailure("sysctl \"\(key)\" is not a valid name") }
            try writeExisting("/proc/sys/" + key.replacing(".", with: "/"), value)
        }
        for p in config.readonlyPaths {
            if mount(p, p, nil, MountFlags.bind | MountFlags.rec, nil) != 0 {
                if errno == ENOENT { continue }
                throw RuntimeFailure.errno("bind \(p) read-only")
            }
            try remount(p, MountFlags.rdonly | MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec, p)
        }
        for p in config.maskedPaths {
            var st = stat()
            guard stat(p, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                if mount("tmpfs", p, "tmpfs", MountFlags.rdonly, nil) != 0 { throw RuntimeFailure.errno("mask \(p)") }
            } else if mount("/dev/null", p, nil, MountFlags.bind, nil) != 0 {
                throw RuntimeFailure.errno("mask \(p)")
            }
        }
        if config.rootReadonly {
            try remount("/", MountFlags.rdonly, "/")
        }
    }
}

/// O_PATH (not exported by Glibc's Swift overlay).
let O_PATH_: Int32 = 0o10000000
