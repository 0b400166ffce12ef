import CRootless
import CSys
import Foundation
import Runtime
import Sys

/// Where a rootless berthd keeps things: the user's own directories, as dockerd-rootless and
/// Podman do (`~/.local/share/berth`, `$XDG_RUNTIME_DIR/berth.sock`).
struct RootlessPaths {
    var runtimeDir: String
    var home: String
    var dataRoot: String { nonEmpty("XDG_DATA_HOME").map { $0 + "/berth" } ?? home + "/.local/share/berth" }
    var execRoot: String { runtimeDir + "/berth" }
    var socket: String { runtimeDir + "/berth.sock" }
    var configFile: String { nonEmpty("XDG_CONFIG_HOME").map { $0 + "/berth/daemon.json" } ?? home + "/.config/berth/daemon.json" }
    /// slirp4netns's control socket: the child asks it to forward published ports.
    var slirpSocket: String { execRoot + "/slirp4netns.sock" }

    static func current() throws(RootlessFailure) -> RootlessPaths {
        guard let run = nonEmpty("XDG_RUNTIME_DIR") else {
            throw RootlessFailure(
                "XDG_RUNTIME_DIR needs to be set for rootless berthd (a directory only this user can write, as systemd's /run/user/\(getuid()))")
        }
        guard let home = nonEmpty("HOME") else { throw RootlessFailure("HOME needs to be set for rootless berthd") }
        return RootlessPaths(runtimeDir: run, home: home)
    }
}

private func nonEmpty(_ name: String) -> String? {
    guard let v = Proc.getenv(name), !v.isEmpty else { return nil }
    return v
}

struct RootlessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The parent half of rootless berthd, which stays the ordinary user in the host's namespaces:
/// it starts berthd again as its child (which enters new user, mount and network namespaces
/// before main: CRootless), writes the child's id maps with newuidmap/newgidmap (the user's own
/// id as root, its /etc/subuid range as 1…), attaches slirp4netns as the child's network (tap0,
/// 10.0.2.100), then relays signals and waits. Published ports reach the child through
/// slirp4netns's forwarding, which the child asks for on its control socket.
enum RootlessParent {
    static func run(arguments: [String]) -> Never {
        do throws(RootlessFailure) { exit(try start(arguments: arguments)) } catch {
            FileHandle.standardError.write("berthd: rootless: \(error)\n".data(using: .utf8)!)
            exit(1)
        }
    }

    static func start(arguments: [String]) throws(RootlessFailure) -> Int32 {
        let paths = try RootlessPaths.current()
        let uid = getuid(), gid = getgid()
        let ranges: UsernsRemap
        do {
            ranges = try UsernsRemap.resolve(
                "\(uid):\(gid)", subuid: (try? FS.readString("/etc/subuid")) ?? "", subgid: (try? FS.readString("/etc/subgid")) ?? "",
                passwd: (try? FS.readString("/etc/passwd")) ?? "", group: (try? FS.readString("/etc/group")) ?? "")
        } catch {
            throw RootlessFailure("\(error) (scripts/rootless-setup USER adds one)")
        }
        for tool in ["newuidmap", "newgidmap", "slirp4netns"] where which(tool) == nil {
            throw RootlessFailure("\(tool) not found in PATH (Debian: apt-get install \(tool == "slirp4netns" ? "slirp4netns" : "uidmap"))")
        }
        do { try FS.mkdirAll(paths.execRoot, mode: 0o700) } catch { throw RootlessFailure("\(error)") }
        unlink(paths.slirpSocket)

        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw RootlessFailure("socketpair: \(String(cString: strerror(errno)))")
        }
        var env = Proc.currentEnvironment().filter { !$0.hasPrefix("_BERTH_ROOTLESS_SYNC=") && !$0.hasPrefix("BERTH_ROOTLESS_SLIRP=") }
        env += ["_BERTH_ROOTLESS_SYNC=3", "BERTH_ROOTLESS_SLIRP=" + paths.slirpSocket, "XTABLES_LOCKFILE=" + paths.execRoot + "/xtables.lock"]
        let exe = selfExecutable()
        let child: pid_t
        do { child = try Proc.spawn([exe] + arguments, env: env, fds: [0, 1, 2, pair[1]]) } catch {
            throw RootlessFailure("\(error)")
        }
        close(pair[1])
        let sync = pair[0]
        var byte: UInt8 = 0
        guard read(sync, &byte, 1) == 1, byte == UInt8(ascii: "u") else {
            return Proc.wait(child)  // the child failed before its namespaces; it said why
        }
        var slirp: pid_t = -1
        var exitPipe: [Int32] = [-1, -1]
        do {
            try mapIDs(child, tool: "newuidmap", own: uid, start: ranges.uid, count: ranges.size)
            try mapIDs(child, tool: "newgidmap", own: gid, start: ranges.gid, count: ranges.size)
            (slirp, exitPipe) = try attachNetwork(child, paths: paths)
        } catch {
            close(sync)  // the child reads no 'g' and stops
            _ = Proc.wait(child)
            throw error
        }
        byte = UInt8(ascii: "g")
        _ = write(sync, &byte, 1)
        close(sync)

        // Signals for the daemon go to the child, whose clean stop takes its mounts and
        // network with it (its namespaces die with it); then slirp4netns is told to go.
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { kill(child, sig) }
            s.resume()
            sources.append(s)
        }
        let status = Proc.wait(child)
        for s in sources { s.cancel() }
        close(exitPipe[1])  // slirp4netns's --exit-fd: it exits when this closes
        if slirp > 0 { _ = Proc.wait(slirp) }
        unlink(paths.slirpSocket)
        return status
    }

    /// `newuidmap PID 0 OWN 1 1 START COUNT`: root in the child is the user; 1… its range.
    static func mapIDs(_ pid: pid_t, tool: String, own: UInt32, start: UInt32, count: UInt32) throws(RootlessFailure) {
        let out: Proc.Output
        do { out = try Proc.run([tool, "\(pid)", "0", "\(own)", "1", "1", "\(start)", "\(count)"]) } catch {
            throw RootlessFailure("\(error)")
        }
        guard out.status == 0 else {
            throw RootlessFailure("\(tool) failed: \(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// slirp4netns on the child's network namespace: tap0 configured (10.0.2.100/24, gateway
    /// 10.0.2.2, DNS 10.0.2.3), the host's loopback out of reach (`--disable-host-loopback`),
    /// a control socket for port forwarding. Returns once it says it is ready.
    static func attachNetwork(_ pid: pid_t, paths: RootlessPaths) throws(RootlessFailure) -> (pid_t, [Int32]) {
        var ready: [Int32] = [0, 0], exitPipe: [Int32] = [0, 0]
        guard berth_pipe(&ready) == 0, berth_pipe(&exitPipe) == 0 else { throw RootlessFailure("pipe") }
        let argv = [
            "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
            "--api-socket", paths.slirpSocket, "--ready-fd=3", "--exit-fd=4", "\(pid)", "tap0",
        ]
        // Its chatter (every request it serves) goes to a log of its own.
        let log = open(paths.execRoot + "/slirp4netns.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let slirp: pid_t
        do { slirp = try Proc.spawn(argv, fds: [-1, log, log, ready[1], exitPipe[0]]) } catch { throw RootlessFailure("\(error)") }
        if log >= 0 { close(log) }
        close(ready[1]); close(exitPipe[0])
        var b: UInt8 = 0
        let n = read(ready[0], &b, 1)
        close(ready[0])
        guard n == 1 else {
            close(exitPipe[1])
            _ = Proc.wait(slirp)
            let why = ((try? FS.readString(paths.execRoot + "/slirp4netns.log")) ?? "").split(separator: "\n").suffix(3).joined(separator: "; ")
            throw RootlessFailure("slirp4netns did not start: \(why)")
        }
        return (slirp, exitPipe)
    }

    static func which(_ tool: String) -> String? {
        for dir in (Proc.getenv("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    static func selfExecutable() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// In the child, before anything else: whether this berthd is a rootless child, and a
    /// failure of its namespace entry in words.
    static func childState() -> (isChild: Bool, failure: String?) {
        let s = berth_rootless_child_state()
        if s < 0 { return (true, "\(String(cString: berth_rootless_child_failure())): \(String(cString: strerror(-s)))") }
        return (s == 1, nil)
    }
}
