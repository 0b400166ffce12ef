// berth-shim: one per container. Starts the container through the OCI runtime, holds its stdio,
// writes json-file logs, records the exit status, and serves the daemon over a unix socket.
// It outlives berthd. Single-threaded (a poll loop), Foundation-free: it must start fast.
// With berth-runtime (issue 15's fast path) the runtime is linked in: its create, start and
// delete run in a fork of the shim instead of three exec'd programs.
import CRuntime
import CSys
import ContainerRuntime
import Glibc
import Sys

struct Options {
    var id = ""
    var bundle = ""
    var runtime = "runc"
    /// The runtime's binary for `create` when it is a sealed (read-only) copy; else `runtime`.
    var runtimeCreate = ""
    /// Arguments the runtime gets before every command (daemon.json `runtimeArgs`).
    var runtimeArgs: [String] = []
    var runtimeRoot = "/run/berth/runc"
    /// The runtime is berth-runtime, linked into this binary: run its commands in a fork.
    var runtimeInline = false
    var socket = ""
    var logPath = ""
    var exitFile = ""
    var logMaxSize: Int64 = 10 * 1024 * 1024
    var logMaxFiles = 3
    /// A file holding the `attrs` object of every log entry (json-file's labels, env and tag).
    var logAttrsFile = ""
    var logCompress = false
    var openStdin = false
    var tty = false
    var consoleSocket = ""
    /// Seconds to wait for the daemon's start frame before giving the container up.
    var startTimeout: Int64 = 60
}

func parseOptions(_ arguments: [String]) -> Options {
    var o = Options()
    var args = arguments.makeIterator()
    while let a = args.next() {
        switch a {
        case "--id": o.id = args.next() ?? ""
        case "--bundle": o.bundle = args.next() ?? ""
        case "--runtime": o.runtime = args.next() ?? "runc"
        case "--runtime-arg": if let a = args.next() { o.runtimeArgs.append(a) }
        case "--runtime-create": o.runtimeCreate = args.next() ?? ""
        case "--runtime-root": o.runtimeRoot = args.next() ?? ""
        case "--runtime-inline": o.runtimeInline = true
        case "--socket": o.socket = args.next() ?? ""
        case "--log": o.logPath = args.next() ?? ""
        case "--exit-file": o.exitFile = args.next() ?? ""
        case "--log-max-size": o.logMaxSize = Int64(args.next() ?? "") ?? o.logMaxSize
        case "--log-max-files": o.logMaxFiles = Int(args.next() ?? "") ?? o.logMaxFiles
        case "--log-attrs": o.logAttrsFile = args.next() ?? ""
        case "--log-compress": o.logCompress = true
        case "--stdin": o.openStdin = true
        case "--tty": o.tty = true
        case "--console-socket": o.consoleSocket = args.next() ?? ""
        case "--start-timeout": o.startTimeout = Int64(args.next() ?? "").map { max(1, min($0, 86_400)) } ?? o.startTimeout
        default: break
        }
    }
    return o
}

func fail(_ fd: Int32, _ message: String) -> Never {
    try? FS.writeAll(fd: fd, Array(("1 " + message).utf8))
    exit(1)
}

enum FileHandleStderr {
    static func write(_ s: String) { try? FS.writeAll(fd: 2, Array(s.utf8)) }
}

/// A forked child carries on as the long-lived monitor and the daemon's direct child exits at
/// once (nothing to reap later). The monitor answers on the stdout it inherited, "0 <pid>" or
/// "1 <error>", then lets go of it: the daemon reads until the end of that pipe, which comes the
/// moment the answer is written (no relay through the exited parent).
func becomeMonitor() {
    let forked = berth_fork()
    if forked < 0 { FileHandleStderr.write("1 fork failed\n"); exit(1) }
    if forked > 0 { _exit(0) }
    setsid()
    _ = berth_set_child_subreaper()
}

/// What ps and pgrep show of this shim becomes its container's arguments (as many whole ones
/// as fit in the room its start left, which berthd pads), not `--spare`.
func showArguments(_ arguments: [String]) {
    let room = berth_cmdline_room()
    var text: [UInt8] = []
    for a in arguments {
        guard text.count + a.utf8.count + 1 <= room else { break }
        text += a.utf8
        text.append(0)
    }
    _ = text.withUnsafeBufferPointer { berth_set_cmdline_tail($0.baseAddress, $0.count) }
}

// `--gzip-log FILE`: the helper that compresses a rotated log (JSONFileLogger), nothing else.
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == JSONFileLogger.gzipFlag {
    exit(JSONFileLogger.gzipRotated(CommandLine.arguments[2]) ? 0 : 1)
}

// `--spare`: started ahead of need, this shim has done all of the above (and the exec, and the
// Swift runtime's start) before berthd knows which container it will watch; it waits for its
// arguments on stdin. Their end, or anything malformed, means it is not needed: it exits.
let spare = CommandLine.arguments.dropFirst().first == "--spare"
/// `--resume STATE OOM-COUNTER ARGUMENTS…`: this shim exec'd itself to shed the memory its start
/// left behind (`shed()` below). Its container runs; STATE names what it serves, OOM-COUNTER is the
/// cgroup file it had found (empty: none; the mount table read anew would be 20-odd KiB of heap
/// for the container's life), ARGUMENTS are the shim's own.
struct Resumed {
    let state: ShimResumeState
    let oomCounter: String?
    let arguments: [String]

    static func fromCommandLine() -> Resumed? {
        let argv = CommandLine.arguments
        guard argv.count >= 4, argv[1] == "--resume" else { return nil }
        guard let state = ShimResumeState.parse(argv[2]) else {
            FileHandleStderr.write("berth-shim: malformed --resume state\n")
            exit(2)
        }
        return Resumed(state: state, oomCounter: argv[3].isEmpty ? nil : argv[3], arguments: Array(argv.dropFirst(4)))
    }

    static func commandLine(_ state: ShimResumeState, oomCounter: String?, arguments: [String]) -> [String] {
        [CommandLine.arguments[0], "--resume", state.encoded(), oomCounter ?? ""] + arguments
    }
}
let resumed = Resumed.fromCommandLine()
let arguments: [String]
if spare {
    becomeMonitor()
    ContainerRuntimeEngine.warmUp()
    _ = berth_malloc_trim()
    arguments = SpareArguments.read(fd: 0) ?? { exit(0) }()
    showArguments(arguments)
} else if let resumed {
    arguments = resumed.arguments
    // Exec'd through /proc/self/exe, this process would be named "exe": pgrep, ps and top know it
    // by its binary's name, as before the execve.
    let prSetName: Int32 = 15
    let name = String((CommandLine.arguments.first ?? "berth-shim").split(separator: "/").last ?? "berth-shim")
    _ = name.withCString { brt_prctl(prSetName, UInt(bitPattern: $0), 0, 0, 0) }
} else {
    arguments = Array(CommandLine.arguments.dropFirst())
}
let opts = parseOptions(arguments)
if opts.id.isEmpty || opts.bundle.isEmpty || opts.socket.isEmpty {
    FileHandleStderr.write("usage: berth-shim --id ID --bundle DIR --socket PATH [--log PATH] [--exit-file PATH]\n")
    exit(2)
}
if !spare && resumed == nil { becomeMonitor() }
let syncFd: Int32 = 1
let devnull = open("/dev/null", O_RDWR)
dup2(devnull, 0); dup2(devnull, 2)
let sigfd = berth_block_sigchld_fd()
signal(SIGPIPE, SIG_IGN)

// stdio pipes: [read, write]; the container gets one end, we keep the other.
var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
if resumed == nil {
    berth_pipe(&outPipe); berth_pipe(&errPipe)
    if opts.openStdin && !opts.tty { berth_pipe(&inPipe) }
}

let pidFile = opts.bundle + "/pid"
let runtimeBase = [opts.runtime] + opts.runtimeArgs + ["--root", opts.runtimeRoot]
// A container's init is a fork of whoever creates it until it execs: the fast path is taken
// only when this binary is on a read-only mount (berthd's bind), so nothing in the container
// can write the host's binary through /proc/<pid>/exe (CVE-2019-5736). Else: exec the runtime.
let inlineRuntime = opts.runtimeInline && brt_exe_is_sealed() != 0

/// Starts one runtime command (`runtimeBase` + `command`) with the given stdio: in a fork of
/// this process on the fast path, else by exec'ing `binary` (the runtime by default).
func startRuntime(_ command: [String], binary: String? = nil, stdin input: Int32 = -1, stdout output: Int32 = -1, stderr errors: Int32 = -1)
    throws(SysError) -> pid_t
{
    guard inlineRuntime else {
        return try Proc.spawn([binary ?? opts.runtime] + runtimeBase.dropFirst() + command, stdin: input, stdout: output, stderr: errors)
    }
    let pid = brt_fork_inline(input, output, errors)
    if pid < 0 { throw SysError("fork") }
    if pid == 0 {
        var runtime = RuntimeCommand(arguments: Array(runtimeBase.dropFirst()) + command)
        let status = runtime.main()
        fflush(nil)
        _exit(status)
    }
    return pid
}

/// Runs one runtime command to its end: its exit status and what it wrote to stderr.
func runRuntime(_ command: [String]) -> (status: Int32, errors: String) {
    guard inlineRuntime else {
        guard let out = try? Proc.run(runtimeBase + command) else { return (-1, "cannot run \(opts.runtime)") }
        return (out.status, out.stderrText)
    }
    var errPipe: [Int32] = [0, 0]
    guard berth_pipe(&errPipe) == 0 else { return (-1, "pipe: \(goErrorText(errno))") }
    let pid: pid_t
    do { pid = try startRuntime(command, stderr: errPipe[1]) } catch {
        close(errPipe[0]); close(errPipe[1])
        return (-1, "\(error)")
    }
    close(errPipe[1])
    let text = (try? FS.readAll(fd: errPipe[0])) ?? []
    close(errPipe[0])
    return (Proc.wait(pid), String(decoding: text, as: UTF8.self))
}
/// `delete --force` of this container. On the fast path in this process, as `start`: the shim
/// exits right after (or fails), and a fork for it cost more than the delete, on the way from the
/// container's exit to the daemon hearing of it.
func deleteContainer() {
    guard inlineRuntime && opts.runtimeArgs.isEmpty else {
        _ = runRuntime(["delete", "--force", opts.id])
        return
    }
    try? ContainerRuntimeEngine(root: opts.runtimeRoot).delete(opts.id, force: true)
}
// With a TTY, runc makes the pty and hands us its master over this socket.
let consolePath = opts.consoleSocket.isEmpty ? opts.socket + ".console" : opts.consoleSocket
var consoleListen: Int32 = -1
if opts.tty && resumed == nil {
    do { consoleListen = try UnixSocket.listen(consolePath) } catch { fail(syncFd, "console socket: \(error)") }
}
/// The cgroups the runtime linked into this shim made for the container (nil: another runtime's
/// create, or none of its own).
var createdCgroups: CgroupPaths? = nil

/// The container created: its init's pid, waiting for the start. On the fast path in this
/// process (the init's first stage is its fork, which takes the stdio pipes over); else the
/// runtime's `create`, whose error is what it wrote to them.
@MainActor func createContainer() -> pid_t {
    /// The container's ends of its stdio pipes, closed here once its init has them.
    func closeContainerEnds() {
        close(outPipe[1]); close(errPipe[1])
        if inPipe[0] >= 0 { close(inPipe[0]) }
    }
    if inlineRuntime && opts.runtimeArgs.isEmpty {
        var o = CreateOptions(id: opts.id, bundle: opts.bundle)
        if opts.tty { o.consoleSocket = consolePath }
        o.stdio = [inPipe[0], outPipe[1], errPipe[1]]
        do throws(RuntimeFailure) {
            let state = try ContainerRuntimeEngine(root: opts.runtimeRoot).create(o)
            closeContainerEnds()
            createdCgroups = state.cgroups
            return state.pid
        } catch {
            deleteContainer()
            fail(syncFd, error.message)
        }
    }
    let createPid: pid_t
    do {
        var createArgs = ["create", "--bundle", opts.bundle, "--pid-file", pidFile]
        if opts.tty { createArgs += ["--console-socket", consolePath] }
        createPid = try startRuntime(
            createArgs + [opts.id], binary: opts.runtimeCreate.isEmpty ? nil : opts.runtimeCreate, stdin: inPipe[0], stdout: outPipe[1],
            stderr: errPipe[1])
    } catch {
        fail(syncFd, "\(error)")
    }
    let createStatus = Proc.wait(createPid)
    closeContainerEnds()
    if createStatus != 0 {
        // Nothing of the container has run yet: what is in the pipes is the runtime's own error.
        _ = fcntl(outPipe[0], F_SETFL, O_NONBLOCK); _ = fcntl(errPipe[0], F_SETFL, O_NONBLOCK)
        var text = (try? FS.readAll(fd: errPipe[0])) ?? []
        text += (try? FS.readAll(fd: outPipe[0])) ?? []
        deleteContainer()
        fail(syncFd, runtimeError(String(decoding: text, as: UTF8.self)))
    }
    return pid_t((try? FS.readString(pidFile))?.trimmingSpaces() ?? "") ?? 0
}
let containerPid = resumed?.state.containerPid ?? createContainer()
var masterFd: Int32 = resumed?.state.masterFd ?? -1
if opts.tty && resumed == nil {
    // runc connected and sent the master during create; the connection waits in the backlog.
    let conn = berth_accept(consoleListen)
    if conn >= 0 { masterFd = berth_recv_fd(conn); close(conn) }
    close(consoleListen)
    unlink(consolePath)
    if masterFd < 0 {
        deleteContainer()
        fail(syncFd, "did not receive the container's console")
    }
}

/// runc prints logrus lines (`time="…" level=error msg="…"`); keep just the message.
func runtimeError(_ raw: String) -> String {
    var lines: [String] = []
    for line in raw.split(separator: "\n") {
        if let r = line.firstRange(of: "msg=\"") {
            var msg = String(line[r.upperBound...])
            if msg.hasSuffix("\"") { msg.removeLast() }
            lines.append(msg.replacing("\\\"", with: "\""))
        } else {
            lines.append(String(line))
        }
    }
    let text = lines.joined(separator: "\n")
    return text.isEmpty ? "runtime create failed" : text
}

let listenFd: Int32
if let resumed {
    listenFd = resumed.state.listenFd
    // Kept open across the execve, and closed across any other again (a poststop hook's).
    for fd in resumed.state.descriptors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
} else {
    do { listenFd = try UnixSocket.listen(opts.socket) } catch { fail(syncFd, "\(error)") }
    try? FS.writeAll(fd: syncFd, Array("0 \(containerPid)".utf8))
}
dup2(devnull, syncFd)
if devnull > 2 { close(devnull) }
// The container's memory cgroup, found once the daemon has its answer but before the start
// (frames are read only below; the cgroup is gone after delete): its OOM-kill count at exit is
// Docker's State.OOMKilled.
// A resumed shim has it from before its execve.
@MainActor func oomCounterFile() -> String? {
    if let resumed { return resumed.oomCounter }
    guard containerPid > 0 else { return nil }
    // Known from the create in this process: no read of mountinfo, which grows with every
    // container on the host.
    if let paths = createdCgroups { return OOMKills.counterFile(memoryV1: paths.byController["memory"], unified: paths.unified) }
    return OOMKills.counterFile(
        procCgroup: (try? FS.readString("/proc/\(containerPid)/cgroup")) ?? "", mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
}
let oomCounter = oomCounterFile()

/// berthd wrote the attributes (bounded there); read with a bound all the same.
let logAttrs: [UInt8] = {
    guard !opts.logAttrsFile.isEmpty else { return [] }
    let fd = open(opts.logAttrsFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    let limit = 1 << 20
    var bytes = [UInt8](repeating: 0, count: limit + 1)
    var got = 0
    while got <= limit {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, limit + 1 - got) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        got += n
    }
    return got <= limit ? Array(bytes[0..<got]) : []
}()
var logger = JSONFileLogger(path: opts.logPath, maxSize: opts.logMaxSize, maxFiles: opts.logMaxFiles, attrs: logAttrs, compress: opts.logCompress)
var clients: [Int32: ShimFrameDecoder] = Dictionary(uniqueKeysWithValues: (resumed?.state.clients ?? []).map { ($0, ShimFrameDecoder()) })
var stdinFd = resumed?.state.stdinFd ?? (opts.tty ? masterFd : inPipe[1])
var outFd: Int32 = resumed?.state.outFd ?? outPipe[0], errFd: Int32 = resumed?.state.errFd ?? errPipe[0]
var exitCode: Int32? = nil
/// Whether the daemon has asked for the start (or we gave up waiting for it).
var startAsked = resumed != nil
/// When this shim sheds its start-up memory (monotonic nanoseconds), set once by the container's
/// start; nil before it, after a shed that failed, and in a resumed shim. See `shed()`.
var shedAt: Int64? = nil
let reported = Timestamp.monotonicNanos()
let startDeadlineNanos: Int64 = opts.startTimeout * 1_000_000_000
/// One read's worth of the container's output or a client's frames: a mapping of its own, so the
/// pages a read never reaches stay untouched, not resident (a zero-filled buffer was 64 KiB of
/// every shim, and one from the heap could reuse pages an earlier, freed read had filled).
let buf: UnsafeMutableRawBufferPointer = {
    let size = 65536
    let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    guard let p, p != MAP_FAILED else { return UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16) }
    return UnsafeMutableRawBufferPointer(start: p, count: size)
}()

@MainActor func broadcast(_ frame: ShimFrame) {
    let bytes = frame.encoded()
    for fd in clients.keys {
        do { try FS.writeAll(fd: fd, bytes) } catch { close(fd); clients[fd] = nil }
    }
}

@MainActor func handle(_ frame: ShimFrame, from fd: Int32) {
    switch frame.kind {
    case .start:
        startAsked = true
        let reply: String
        if inlineRuntime && opts.runtimeArgs.isEmpty {
            // In this process: forking for it cost more than the start itself (the exec fifo read).
            do throws(RuntimeFailure) {
                try ContainerRuntimeEngine(root: opts.runtimeRoot).start(opts.id)
                reply = "0"
            } catch {
                reply = "1 " + error.message
            }
        } else {
            let out = runRuntime(["start", opts.id])
            reply = out.status == 0 ? "0" : "1 " + runtimeError(out.errors)
        }
        try? FS.writeAll(fd: fd, ShimFrame(.started, text: reply).encoded())
        if reply == "0" && resumed == nil { shedAt = Timestamp.monotonicNanos() + shedDelayNanos }
        // After the answer (it was before, on the start's path): the spec and state the create
        // and start parsed are freed, their pages go back; this process stays small.
        _ = berth_malloc_trim()
    case .stdin:
        if stdinFd >= 0 { try? FS.writeAll(fd: stdinFd, frame.payload) }
    case .closeStdin:
        // On a TTY the master is also the output: closing input means sending EOF (^D).
        if opts.tty { if masterFd >= 0 { try? FS.writeAll(fd: masterFd, [4]) } } else if stdinFd >= 0 { close(stdinFd); stdinFd = -1 }
    case .resize:
        let p = frame.text.split(separator: " ")
        if masterFd >= 0, p.count == 2, let r = UInt16(p[0]), let c = UInt16(p[1]) { _ = berth_set_winsize(masterFd, r, c) }
    case .kill:
        if exitCode == nil, containerPid > 0 { kill(containerPid, Int32(frame.text) ?? SIGKILL) }
    default: break
    }
}

@MainActor func pump(_ fd: Int32, _ kind: ShimFrameKind) -> Bool {
    let n = read(fd, buf.baseAddress, buf.count)
    if n <= 0 { return !(n == 0 || (errno != EINTR && errno != EAGAIN)) }
    let chunk = Array(buf[0..<n])
    logger.append(chunk, stream: kind == .stdout ? "stdout" : "stderr")
    broadcast(ShimFrame(kind, chunk))
    return true
}

@MainActor func reap() {
    var status: Int32 = 0
    while true {
        let pid = waitpid(-1, &status, WNOHANG)
        if pid <= 0 { break }
        if pid == containerPid { exitCode = Proc.decodeStatus(status) }
        logger.reaped(pid)
    }
}

/// Once its container has run for this long, a shim exec's itself (`shed()`): late enough that a
/// burst of starts (50 `docker run -d` take about 1.5 s here) is over before the first shed, whose
/// execve and start-up cost CPU the starts would otherwise share.
let shedDelayNanos: Int64 = 5_000_000_000

/// The shim execs itself once, the same binary, keeping its container (its child, of which it
/// stays the subreaper) and every descriptor it serves: what its start left behind is gone for
/// the container's life (the runtime's create in this process, the warm-up it did as a spare,
/// the heap both fragmented: about 0.2 MiB of a 0.5 MiB shim). Only between frames and lines:
/// nothing a client sent is half-read, no log line half-written; else it tries again shortly.
/// Not after the exit (that is reported at once), and never twice.
@MainActor func shed() {
    // Not while a rotated log is being compressed: the next rotation must wait for that helper.
    guard exitCode == nil, !logger.holdsPartialLine, logger.compressor == 0, clients.values.allSatisfy(\.isEmpty) else {
        shedAt = Timestamp.monotonicNanos() + 100_000_000
        return
    }
    let state = ShimResumeState(
        containerPid: containerPid, listenFd: listenFd, outFd: outFd, errFd: errFd, stdinFd: stdinFd, masterFd: masterFd,
        clients: Array(clients.keys))
    for fd in state.descriptors { _ = fcntl(fd, F_SETFD, 0) }
    let argv = Resumed.commandLine(state, oomCounter: oomCounter, arguments: arguments)
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cargs)
    // Still here (the execve failed): carry on as we are, for good.
    for p in cargs { free(p) }
    for fd in state.descriptors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    shedAt = nil
}

if resumed != nil {
    _ = berth_malloc_trim()
    // A container that exited during the execve: its SIGCHLD stayed pending; reaping now is cheap.
    reap()
}

while true {
    if exitCode == nil, let due = shedAt, Timestamp.monotonicNanos() >= due { shed() }
    var fds: [pollfd] = [pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0), pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
    if outFd >= 0 { fds.append(pollfd(fd: outFd, events: Int16(POLLIN), revents: 0)) }
    if errFd >= 0 { fds.append(pollfd(fd: errFd, events: Int16(POLLIN), revents: 0)) }
    if masterFd >= 0 { fds.append(pollfd(fd: masterFd, events: Int16(POLLIN), revents: 0)) }
    for fd in clients.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
    // Once the container has exited and its pipes are drained, we are done.
    if exitCode != nil && outFd < 0 && errFd < 0 && masterFd < 0 { break }
    let waitingForStart = !startAsked && exitCode == nil
    var timeout: Int32 = exitCode != nil ? 200 : waitingForStart ? 1000 : -1
    if exitCode == nil, let due = shedAt {
        let ms = Int32(clamping: max(0, (due - Timestamp.monotonicNanos()) / 1_000_000 + 1))
        if timeout < 0 || ms < timeout { timeout = ms }
    }
    let rc = poll(&fds, nfds_t(fds.count), timeout)
    if rc < 0 { if errno == EINTR { continue }; break }
    if waitingForStart && Timestamp.monotonicNanos() - reported > startDeadlineNanos {
        // The daemon asks for the start right after our answer; a minute (--start-timeout)
        // without it means the daemon died in between and will never record this container as
        // running. Nothing may run unseen: the init goes, and the exit path cleans up as for any exit.
        if containerPid > 0 { kill(containerPid, SIGKILL) }
        startAsked = true
    }
    if rc == 0 && exitCode != nil {
        // Grandchildren that kept the pipes open: stop waiting for them.
        if outFd >= 0 { close(outFd); outFd = -1 }
        if errFd >= 0 { close(errFd); errFd = -1 }
        if masterFd >= 0 { close(masterFd); masterFd = -1 }
        continue
    }
    for p in fds where p.revents != 0 {
        if p.fd == listenFd {
            let c = berth_accept(listenFd)
            if c >= 0 { clients[c] = ShimFrameDecoder() }
        } else if p.fd == sigfd {
            _ = berth_sig_read(sigfd)
            reap()
        } else if p.fd == outFd {
            if !pump(outFd, .stdout) { close(outFd); outFd = -1 }
        } else if p.fd == errFd {
            if !pump(errFd, .stderr) { close(errFd); errFd = -1 }
        } else if p.fd == masterFd {
            // EIO once the last process holding the pty's other side is gone.
            if !pump(masterFd, .stdout) { close(masterFd); masterFd = -1; stdinFd = -1 }
        } else if var dec = clients[p.fd] {
            let n = read(p.fd, buf.baseAddress, buf.count)
            if n <= 0 { close(p.fd); clients[p.fd] = nil; continue }
            dec.feed(buf[0..<n])
            while let f = dec.next() { handle(f, from: p.fd) }
            if clients[p.fd] != nil { clients[p.fd] = dec }
        }
    }
    reap()
}

logger.flush()
let finished = Timestamp.now()
let record = ExitRecord(code: exitCode ?? 255, nanos: finished.nanos, oomKilled: oomCounter.map { OOMKills.read($0) > 0 } ?? false)
// Made durable only when no daemon hears of the exit: a connected daemon records it in its own
// store (fdatasync'd) and reads this file only after a crash of its own, when the page cache
// still has it; the fsync cost half a millisecond of every exit.
try? FS.writeAtomic(opts.exitFile, record.text + "\n", durable: clients.isEmpty)
// The exit is told first, then the runtime's state and cgroups go (0.6 ms that were between the
// exit and `run --rm`'s answer). The socket goes last: berthd starts the same container again
// only once it is gone (`awaitPreviousShim`), since a new run has the same runtime id and socket
// path, which a late delete or unlink here would otherwise take from it.
broadcast(ShimFrame(.exited, text: record.text))
for fd in clients.keys { close(fd) }
deleteContainer()
close(listenFd)
unlink(opts.socket)
exit(0)
