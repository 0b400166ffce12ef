import CRuntime
import Glibc
import Sys

/// An error the runtime reports: one line, in runc's words where Berth and other callers parse
/// them (`exec: "x": executable file not found in $PATH`).
public struct RuntimeFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    /// `what: <errno text>`, with Go's lower-case first letter as runc prints it.
    public static func errno(_ what: String, _ code: Int32 = Glibc.errno) -> RuntimeFailure {
        RuntimeFailure("\(what): \(goErrorText(code))")
    }
    public var description: String { message }
}

/// strerror's text as Go prints it (runc's messages are Go's): first letter lower-cased.
public func goErrorText(_ code: Int32) -> String {
    var s = String(cString: strerror(code))
    if let f = s.first, f.isUppercase { s = f.lowercased() + s.dropFirst() }
    return s
}

/// The mount namespace berth-runtime was called in, when it re-executed itself in a private one
/// (brt_ensure_sealed); -1 otherwise. Set once in main before anything else runs.
nonisolated(unsafe) public var callerMountNamespace: Int32 = -1

/// A NUL-terminated C buffer as a String.
func cString(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func usleepMillis(_ ms: Int) { usleep(UInt32(ms * 1000)) }

/// The host's cgroup file system.
public struct HostCgroupFiles: CgroupFiles {
    public init() {}
    public func makeDirectory(_ path: String) throws(RuntimeFailure) {
        do { try FS.mkdirAll(path, mode: 0o755) } catch { throw RuntimeFailure("mkdir \(path): \(goErrorText(error.errno))") }
    }
    public func write(_ path: String, _ value: String) throws(RuntimeFailure) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeFailure.errno("open \(path)") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw RuntimeFailure.errno("failed to write \(value) to \(path)") }
    }
    public func read(_ path: String) -> String? { try? FS.readString(path) }
    public func exists(_ path: String) -> Bool { FS.exists(path) }
    public func attachDeviceFilter(_ dir: String, _ rules: [DeviceRule]) throws(RuntimeFailure) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeFailure.errno("open \(dir)") }
        defer { close(fd) }
        let cRules = rules.map {
            brt_device_rule(type: $0.kind.rawValue, major: $0.major, minor: $0.minor, access: $0.access, allow: $0.allow ? 1 : 0)
        }
        var log = [CChar](repeating: 0, count: 8192)
        let rc = cRules.withUnsafeBufferPointer { brt_attach_device_filter(fd, $0.baseAddress, Int32($0.count), &log, 8192) }
        if rc != 0 {
            let e = errno
            throw RuntimeFailure("loading the device cgroup program: \(goErrorText(e)) \(cString(log))")
        }
    }

    public func removeDirectory(_ path: String) -> Bool {
        for _ in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY || errno == ENOTEMPTY else { return false }
            // Child cgroups first (a container may have made its own); without any, the last
            // processes are still leaving.
            let children = FS.subdirectories(path)
            if children.isEmpty { usleepMillis(2) }
            for n in children { _ = removeDirectory(path + "/" + n) }
        }
        return false
    }
}

/// Writes a small file that must exist already (/proc, /sys, cgroup files).
func writeExisting(_ path: String, _ value: String) throws(RuntimeFailure) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw RuntimeFailure.errno("open \(path)") }
    defer { close(fd) }
    let n = Array(value.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    if n < 0 { throw RuntimeFailure.errno("write \(path)") }
}

/// One message on the create sync socket (SOCK_SEQPACKET: one record per send).
enum SyncMessage {
    static func send(_ fd: Int32, _ kind: UInt8, _ text: String = "") {
        var bytes = [kind] + Array(text.utf8.prefix(8000))
        _ = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    /// (kind, text), nil at EOF.
    static func receive(_ fd: Int32) -> (UInt8, String)? {
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            return (buf[0], String(decoding: buf[1..<n], as: UTF8.self))
        }
    }
}

/// The parent's side of the sync socket during create and exec, in the order it must act. The
/// first stage forks the container's process and only then reports its pid ("P"); the process
/// runs at once and, when the stage is descheduled between the fork and the send, its own
/// reports (device nodes made "D", hooks due "H", ready "R") arrive first. Those are held back
/// until the pid has come: acting on "R" without it failed a create under load ("the container's
/// init exited during create", the stage having exited 0), hooks must be given the pid, and a
/// failure at "D" must be able to kill the init it stops.
struct ChildReports {
    static let pid = UInt8(ascii: "P")
    private static let needPid: Set<UInt8> = [UInt8(ascii: "D"), UInt8(ascii: "H"), UInt8(ascii: "R")]
    private var held: [(UInt8, String)] = []
    private var pidSeen = false

    /// The next report to act on; nil at the end of the stream (held reports without a pid are dropped).
    mutating func next(_ receive: () -> (UInt8, String)?) -> (UInt8, String)? {
        if pidSeen, !held.isEmpty { return held.removeFirst() }
        while let m = receive() {
            if m.0 == Self.pid {
                pidSeen = true
            } else if !pidSeen && Self.needPid.contains(m.0) {
                held.append(m)
                continue
            }
            return m
        }
        return nil
    }
}

/// A process's start time (field 22 of /proc/<pid>/stat), which tells a pid reused by another
/// process from the container's init.
func processStartTime(_ pid: Int32) -> UInt64? {
    guard let text = try? FS.readString("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the comm field: state is field 3, starttime field 22 → index 19 here.
    guard fields.count > 19 else { return nil }
    return UInt64(fields[19])
}

/// The `state` letter of /proc/<pid>/stat ("Z" for a zombie).
func processStateLetter(_ pid: Int32) -> Character? {
    guard let text = try? FS.readString("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    return text[text.index(after: close)...].split(separator: " ").first?.first
}
