import CSys
import Glibc
import Sys

/// dockerd's `userns-remap`: every container's root is an unprivileged host id from the
/// subordinate ranges of a user (`/etc/subuid`, `/etc/subgid`), so a process that escapes its
/// container is nobody in particular on the host. Berth keeps image layers as they are and shows
/// them to the remapped root through idmapped mounts (files owned by 0 on disk appear as the
/// range's first id); what a container writes lands with the host ids of its range.
public struct UsernsRemap: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt32
    public init(uid: UInt32, gid: UInt32, size: UInt32) { self.uid = uid; self.gid = gid; self.size = size }

    /// OCI `linux.uidMappings`/`gidMappings` entries: container 0 → the range's first id.
    public var ociUIDMappings: [(container: UInt32, host: UInt32, size: UInt32)] { [(0, uid, size)] }
    public var ociGIDMappings: [(container: UInt32, host: UInt32, size: UInt32)] { [(0, gid, size)] }
    /// `uid_map` text for /proc/<pid>/uid_map.
    public var uidMapText: String { "0 \(uid) \(size)\n" }
    public var gidMapText: String { "0 \(gid) \(size)\n" }
    /// The directory name dockerd gives a remapped daemon's data (`<uid>.<gid>`): images and
    /// containers of a remapped daemon never mix with those of an unremapped one.
    public var dataSubdirectory: String { "\(uid).\(gid)" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// The highest id of the run of ids from 0 a uid_map/gid_map text maps, nil for the initial
    /// namespace's whole range: rootless berthd's own namespace maps 0 and its subordinate range
    /// (`0 1000 1`, `1 165536 65536`), and a sysctl naming ids (ping_group_range) must stay in it.
    public static func contiguousTop(ofMap text: String) -> UInt32? {
        var ranges: [(inside: UInt64, count: UInt64)] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 3, let inside = UInt64(f[0]), let count = UInt64(f[2]) else { continue }
            ranges.append((inside, count))
        }
        var next: UInt64 = 0
        for r in ranges.sorted(by: { $0.inside < $1.inside }) where r.inside == next { next += r.count }
        guard next > 0, next < UInt64(UInt32.max) else { return nil }
        return UInt32(next - 1)
    }

    /// The setting's user and group, as dockerd reads it: `default` (the `dockremap` user),
    /// `user`, `user:group`, `uid`, `uid:gid`; the first subordinate range of each.
    public static func resolve(_ setting: String, subuid: String, subgid: String, passwd: String, group: String) throws(Failure) -> UsernsRemap {
        let parts = setting.split(separator: ":", maxSplits: 1).map(String.init)
        guard let who = parts.first, !who.isEmpty else { throw Failure("userns-remap: no user given") }
        let userName = who == "default" ? "dockremap" : who
        let groupName = parts.count > 1 ? parts[1] : userName
        let userKeys = keys(userName, in: passwd)
        let groupKeys = keys(groupName, in: group)
        guard let u = firstRange(for: userKeys, in: subuid) else {
            throw Failure("couldn't get subuid ranges for \(userName): no subuid ranges found for user \"\(userName)\" in /etc/subuid")
        }
        guard let g = firstRange(for: groupKeys, in: subgid) else {
            throw Failure("couldn't get subgid ranges for \(groupName): no subgid ranges found for group \"\(groupName)\" in /etc/subgid")
        }
        return UsernsRemap(uid: u.start, gid: g.start, size: min(u.count, g.count))
    }

    /// A name and its numeric id (or a number and its name) from passwd/group text.
    static func keys(_ nameOrID: String, in db: String) -> Set<String> {
        var out: Set<String> = [nameOrID]
        for line in db.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3 else { continue }
            if f[0] == nameOrID { out.insert(String(f[2])) }
            if f[2] == nameOrID { out.insert(String(f[0])) }
        }
        return out
    }

    /// The first `name:start:count` line for one of the keys, range-checked (the ids must fit
    /// below 2³²−1 and the range must hold at least one id).
    static func firstRange(for keys: Set<String>, in text: String) -> (start: UInt32, count: UInt32)? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":")
            guard f.count == 3, keys.contains(String(f[0])), let start = UInt32(f[1]), let count = UInt32(f[2]), count > 0,
                UInt64(start) + UInt64(count) <= UInt64(UInt32.max)
            else { continue }
            return (start, count)
        }
        return nil
    }

    /// `default`: the `dockremap` user (a system user, no login) and a 65536-id range above every
    /// range already handed out, as dockerd creates them.
    public static func ensureDefaultUser() throws(Failure) {
        let passwd = (try? FS.readString("/etc/passwd")) ?? ""
        if !passwd.split(separator: "\n").contains(where: { $0.hasPrefix("dockremap:") }) {
            let r = try? Proc.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false", "dockremap"])
            guard r?.status == 0 else { throw Failure("userns-remap: could not create the dockremap user: \(r?.stderrText ?? "useradd not found")") }
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = (try? FS.readString(file)) ?? ""
            if firstRange(for: ["dockremap"], in: text) != nil { continue }
            var end: UInt64 = 100_000
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":")
                if f.count == 3, let s = UInt64(f[1]), let c = UInt64(f[2]) { end = max(end, s + c) }
            }
            let line = "dockremap:\(end):65536\n"
            let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Failure("userns-remap: \(SysError("open \(file)"))") }
            defer { close(fd) }
            do { try FS.writeAll(fd: fd, Array(((text.isEmpty || text.hasSuffix("\n")) ? line : "\n" + line).utf8)) } catch {
                throw Failure("userns-remap: writing \(file): \(error)")
            }
        }
    }

    /// A container's own user namespace with this mapping, kept alive by a bind mount of its
    /// nsfs file at `path` (the runtime joins it by path, and the container's network namespace
    /// is made inside it, so that the container may mount its own sysfs).
    public func persistNamespace(at path: String) throws(Failure) {
        let (pid, _) = try helper()
        defer {
            kill(pid, SIGKILL)
            _ = Proc.wait(pid)
        }
        umount2(path, Int32(MNT_DETACH))
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("userns-remap: \(SysError("create \(path)"))") }
        close(fd)
        guard mount("/proc/\(pid)/ns/user", path, nil, UInt(MS_BIND), nil) == 0 else {
            throw Failure("userns-remap: \(SysError("bind the user namespace at \(path)"))")
        }
    }

    /// Undoes `persistNamespace`.
    public static func releaseNamespace(at path: String) {
        umount2(path, Int32(MNT_DETACH))
        unlink(path)
    }

    /// A process in a new user namespace with this mapping written (the caller ends it).
    private func helper() throws(Failure) -> (pid_t, Void) {
        let pid: pid_t
        do { pid = try Proc.spawn(["unshare", "--user", "--", "sleep", "60"]) } catch { throw Failure("userns-remap: \(error)") }
        var own = stat(), theirs = stat()
        stat("/proc/self/ns/user", &own)
        for _ in 0..<400 {
            if stat("/proc/\(pid)/ns/user", &theirs) == 0, theirs.st_ino != own.st_ino { break }
            usleep(2000)
        }
        do throws(Failure) {
            guard theirs.st_ino != own.st_ino else { throw Failure("userns-remap: the helper did not enter a user namespace") }
            do {
                try FS.writeExisting("/proc/\(pid)/uid_map", uidMapText)
                try FS.writeExisting("/proc/\(pid)/gid_map", gidMapText)
            } catch { throw Failure("userns-remap: writing the id maps: \(error)") }
        } catch {
            kill(pid, SIGKILL)
            _ = Proc.wait(pid)
            throw error
        }
        return (pid, ())
    }

    /// A user namespace with this mapping, held by a descriptor (for idmapped mounts): a helper
    /// process is started in a new user namespace (`unshare --user`), its maps are written from
    /// here, the namespace is opened, and the helper ends.
    public func namespaceFD() throws(Failure) -> Int32 {
        let (pid, _) = try helper()
        defer {
            kill(pid, SIGKILL)
            _ = Proc.wait(pid)
        }
        let fd = open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("userns-remap: \(SysError("open the user namespace"))") }
        return fd
    }
}
