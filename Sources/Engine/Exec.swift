import DockerAPI
import Foundation
import JSON
import OCI
import Runtime
import Seccomp
import Sys

/// One `exec` instance: defined by create, run once by start, inspected for its exit code.
public struct ExecRecord: Sendable {
    public var id: String
    public var containerID: String
    public var config: ExecConfig
    public var running = false
    public var started = false
    public var exitCode: Int32? = nil
    public var pid: Int32 = 0
    /// Where runc writes the exec'd process's host PID (resize opens its terminal through /proc).
    public var pidFile = ""
    public var tty: Bool { config.tty }
}

extension Engine {
    /// ExecConfig's fields, for Go's case-insensitive decoding.
    public static let execFields = [
        "User", "Privileged", "Tty", "ConsoleSize", "AttachStdin", "AttachStderr", "AttachStdout", "Detach",
        "DetachKeys", "Env", "WorkingDir", "Cmd",
    ]

    public func createExec(_ ref: String, body: ExecConfig) throws(EngineError) -> String {
        let c = try container(ref)
        guard c.state.running else { throw .conflict("Container \(c.id) is not running") }
        if c.state.paused { throw .conflict("Container \(c.id) is paused, unpause the container before exec") }
        guard let cmd = body.cmd, !cmd.isEmpty else { throw .badRequest("No exec command specified") }
        if case let keys = body.detachKeys, !keys.isEmpty, DetachMatcher.parse(keys) == nil {
            throw .badRequest("Invalid detach keys (\(keys)) provided")
        }
        let id = Names.newID()
        execs[id] = ExecRecord(id: id, containerID: c.id, config: body)
        emit(c, "exec_create: " + cmd.joined(separator: " "), extra: ["execID": id])
        return id
    }

    public func exec(_ id: String) throws(EngineError) -> ExecRecord {
        if let e = execs[id] { return e }
        let m = execs.keys.filter { $0.hasPrefix(id) }
        if id.count >= 4, m.count == 1 { return execs[m[0]]! }
        throw .notFound("No such exec instance: \(id)")
    }

    /// Starts the process; output and the exit go to the callbacks. Returns the handle for stdin.
    /// The exec's container's user database, read off the actor (call before `startExec`).
    public nonisolated func execUserFiles(_ id: String) async throws(EngineError) -> (passwd: String, group: String) {
        let root = try await execRoot(id)
        return try await Engine.userFilesOffActor(root: root)
    }

    func execRoot(_ id: String) throws(EngineError) -> String {
        let e = try exec(id)
        return rootfs(try container(e.containerID).id)
    }

    public func startExec(
        _ id: String, userFiles: (passwd: String, group: String)? = nil, onOutput: @escaping @Sendable (UInt8, [UInt8]) -> Void,
        onExit: @escaping @Sendable (Int32) -> Void
    ) throws(EngineError) -> ExecProcess {
        var e = try exec(id)
        if e.started { throw .conflict("Error: Exec command \(e.id) is already running") }
        let c = try container(e.containerID)
        guard c.state.running else { throw .conflict("Container \(c.id) is not running") }
        let pidFile = dir(c.id) + "/exec-\(e.id.prefix(16)).pid"
        let command: ExecHelperCommand
        do {
            let base = try execBase(c)
            let files = try userFiles ?? Engine.userFiles(root: rootfs(c.id))
            command = try execHelperCommand(
                c, base: base, process: execProcess(e, container: c, bundleProcess: base.process, userFiles: files), pidFile: pidFile)
        } catch let err as UserResolver.NotFound {
            throw .badRequest(err.message)
        } catch {
            throw .internalError("preparing exec: \(error)")
        }
        let proc = ExecProcess()
        let engine = self
        let execID = e.id
        do {
            try proc.start(
                argv: command.argv, env: command.env, openStdin: e.config.attachStdin, onOutput: onOutput,
                onExit: { code in
                    unlink(pidFile)
                    // The exit is recorded before the caller hears of it: the client's stream
                    // ends on onExit and it inspects the exec straight away (the docker CLI
                    // then reported exit code 0 for a failed command, under load).
                    Task {
                        await engine.execExited(execID, code: code)
                        onExit(code)
                    }
                })
        } catch { throw .internalError("exec: \(error)") }
        e.started = true
        e.running = true
        e.pid = proc.pid
        e.pidFile = pidFile
        execs[e.id] = e
        emit(c, "exec_start: " + (e.config.cmd ?? []).joined(separator: " "), extra: ["execID": e.id])
        return proc
    }

    /// What every exec in a container starts from: its OCI process, its compiled seccomp filter,
    /// its init's cgroup files. Read once per container run, not once per exec (config.json
    /// carries the whole seccomp profile, tens of KiB of JSON).
    struct ExecBase {
        var pid: Int32
        var process: JSON
        var seccompFile: String?
        var cgroupFiles: [String]
    }

    func execBase(_ c: Container) throws -> ExecBase {
        if let b = execBases[c.id], b.pid == c.state.pid { return b }
        let bundle = try JSON.parse(FS.read(dir(c.id) + "/config.json"))
        let filterFile = dir(c.id) + "/seccomp.bpf"
        if !FS.exists(filterFile) { try prepareSeccompFilter(bundle["linux"]["seccomp"], at: filterFile) }
        // Without cgroups of its own (rootless) the container lives in the daemon's, which an
        // exec inherits; the host's cgroup files are not this user's to write.
        let cgroups =
            !cgroupSupport.limits
            ? []
            : CgroupMembership.procsFiles(
                procCgroup: (try? FS.readString("/proc/\(c.state.pid)/cgroup")) ?? "",
                mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
        execBases = execBases.filter { containers[$0.key]?.state.running == true }
        let b = ExecBase(pid: c.state.pid, process: bundle["process"], seccompFile: FS.size(filterFile) == 0 ? nil : filterFile, cgroupFiles: cgroups)
        execBases[c.id] = b
        return b
    }

    /// berth-exec's command line for `process` in container `c`.
    func execHelperCommand(_ c: Container, base: ExecBase, process: JSON, pidFile: String?) -> ExecHelperCommand {
        ExecHelperCommand(
            helper: config.execHelperPath, process: process, targetPid: c.state.pid,
            seccompFile: base.seccompFile, cgroupFiles: base.cgroupFiles, pidFile: pidFile)
    }

    /// The container's seccomp filter for its execs (an empty file: it has none). Compiling takes
    /// ~20 ms, so each distinct profile is compiled once per daemon run root and linked in.
    func prepareSeccompFilter(_ profile: JSON, at path: String) throws {
        if profile.isNull { return try FS.writeAtomic(path, []) }
        let shared = config.execRoot + "/seccomp/" + Digest.of(profile.serialized()).hex + "-v\(SeccompCompiler.outputVersion).bpf"
        if !FS.exists(shared) {
            try FS.mkdirAll(config.execRoot + "/seccomp")
            try FS.writeAtomic(shared, SeccompCompiler.compile(profile))
        }
        if link(shared, path) != 0 { try FS.writeAtomic(path, FS.read(shared)) }
    }

    /// The exec's OCI process: the container's own (user, capabilities, env) with the exec's
    /// command, env, working directory, user and terminal over it.
    func execProcess(_ e: ExecRecord, container c: Container, bundleProcess: JSON, userFiles: (passwd: String, group: String)) throws -> JSON {
        var process = bundleProcess
        process["args"] = JSON.strings(e.config.cmd)
        // exec has its own stdio: pipes, or a pty of its own with -t (even in a TTY container).
        process["terminal"] = .bool(e.tty)
        process["consoleSize"] = nil
        if e.tty, let size = e.config.consoleSize, size.count == 2, size[0] > 0, size[1] > 0 {
            process["consoleSize"] = ["height": .int(Int64(clamping: size[0])), "width": .int(Int64(clamping: size[1]))]
        }
        var env = process["env"].stringArray ?? []
        // The container's spec carries its main user's HOME (runc's rule, applied by berthd):
        // the exec's user gets its own, unless the container's configuration names one.
        if !(c.config.env ?? []).contains(where: { $0.hasPrefix("HOME=") && $0 != "HOME=" }) { env.removeAll { $0.hasPrefix("HOME=") } }
        if e.tty, !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        for kv in e.config.env ?? [] {
            let key = kv.split(separator: "=", maxSplits: 1).first.map(String.init) ?? kv
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(kv)
        }
        if !e.config.workingDir.isEmpty { process["cwd"] = .string(e.config.workingDir) }
        let (passwd, group) = userFiles
        var home: String? = nil
        if case let u = e.config.user, !u.isEmpty {
            let user = try UserResolver.resolve(u, passwd: passwd, group: group)
            process["user"] = [
                "uid": .int(Int64(user.uid)), "gid": .int(Int64(user.gid)), "additionalGids": .array(user.additionalGids.map { .int(Int64($0)) }),
            ]
            home = user.home
        }
        // runc's rule, kept since exec no longer goes through runc: HOME from passwd when unset;
        // without `-u`, that of the container's user (by its uid, "/" with no entry).
        let uid = process["user"]["uid"].int ?? 0
        env = UserResolver.withHome(env, home: home ?? (try? UserResolver.resolve(String(uid), passwd: passwd, group: group))?.home ?? "/")
        process["env"] = JSON.strings(env)
        if e.config.privileged {
            let all = JSON.strings(LinuxCapabilities.bounding())
            process["capabilities"] = ["bounding": all, "effective": all, "permitted": all]
        }
        return process
    }

    /// runc reports its own failures as logrus lines (`time=… level=error msg="…"`).
    nonisolated static func runtimeErrorMessage(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("time=\""), text.contains("level=error"), let r = text.firstRange(of: "msg=\"") else { return nil }
        var msg = String(text[r.upperBound...]).trimmingSpaces()
        if msg.hasSuffix("\"") { msg.removeLast() }
        return msg.replacing("\\\"", with: "\"")
    }

    /// The exec'd process's host PID once runc has written it (nil before, or after the exit).
    public func execProcessPid(_ id: String) throws(EngineError) -> Int32? {
        let e = try exec(id)
        guard e.running, !e.pidFile.isEmpty else { return nil }
        return (try? FS.readString(e.pidFile)).flatMap { Int32($0.trimmingSpaces()) }
    }

    /// A start refused before any process ran (an unknown user, say): dockerd's exit code 126.
    public func execFailedToStart(_ id: String) {
        execs[id]?.started = true
        execExited(id, code: 126)
    }

    func execExited(_ id: String, code: Int32) {
        if let e = execs[id], let c = containers[e.containerID] { emit(c, "exec_die", extra: ["execID": id, "exitCode": String(code)]) }
        execs[id]?.running = false
        execs[id]?.exitCode = code
        execs[id]?.pid = 0
    }

    public func inspectExec(_ id: String) throws(EngineError) -> ExecInspectResponse {
        let e = try exec(id)
        var r = ExecInspectResponse()
        r.id = e.id
        r.containerID = e.containerID
        r.config = e.config
        r.running = e.running
        r.exitCode = e.exitCode.map { Int64($0) }
        r.pid = Int64(e.pid)
        return r
    }

}
