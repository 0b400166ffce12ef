import Glibc

/// The wire between berthd and a berth-shim: frames of [kind:1][length:4 BE][payload].
/// Shim → daemon: stdout, stderr, started, exited. Daemon → shim: start, stdin, closeStdin, kill.
public enum ShimFrameKind: UInt8, Sendable {
    case stdout = 0x6F  // 'o'
    case stderr = 0x65  // 'e'
    case started = 0x61  // 'a': payload "0" or "1 <error>"
    case exited = 0x78  // 'x': payload ExitRecord.text, "<code> <finished-nanos>[ oom]"
    case start = 0x73  // 's'
    case stdin = 0x69  // 'i'
    case closeStdin = 0x63  // 'c'
    case kill = 0x6B  // 'k': payload "<signal>"
    case resize = 0x72  // 'r': payload "<rows> <cols>"
    case arguments = 0x41  // 'A': a spare shim's arguments (SpareArguments), on its stdin
}

public struct ShimFrame: Sendable {
    public var kind: ShimFrameKind
    public var payload: [UInt8]
    public init(_ kind: ShimFrameKind, _ payload: [UInt8] = []) { self.kind = kind; self.payload = payload }
    public init(_ kind: ShimFrameKind, text: String) { self.kind = kind; self.payload = Array(text.utf8) }
    public var text: String { String(decoding: payload, as: UTF8.self) }

    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(5 + payload.count)
        out.append(kind.rawValue)
        let n = UInt32(payload.count)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xff)); out.append(UInt8((n >> 8) & 0xff)); out.append(UInt8(n & 0xff))
        out.append(contentsOf: payload)
        return out
    }
}

/// Accumulates bytes and yields complete frames.
public struct ShimFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    public init() {}
    /// Nothing of a frame is held (a shim may re-exec itself only then: see ShimResumeState).
    public var isEmpty: Bool { buffer.isEmpty }
    public mutating func feed(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    public mutating func next() -> ShimFrame? {
        guard buffer.count >= 5 else { return nil }
        let n = Int(buffer[1]) << 24 | Int(buffer[2]) << 16 | Int(buffer[3]) << 8 | Int(buffer[4])
        guard buffer.count >= 5 + n else { return nil }
        let kind = ShimFrameKind(rawValue: buffer[0]) ?? .stdout
        let payload = Array(buffer[5..<5 + n])
        buffer.removeFirst(5 + n)
        return ShimFrame(kind, payload)
    }
}

/// A spare shim's arguments, as berthd hands them over on its stdin: one `.arguments` frame whose
/// payload is the arguments, each ended by a NUL (an argument may be empty, never hold a NUL).
/// At most 64 KiB: the spare reads nothing longer.
public enum SpareArguments {
    public static let maxBytes = 64 << 10

    public static func encode(_ arguments: [String]) -> [UInt8]? {
        var body: [UInt8] = []
        for a in arguments {
            guard !a.utf8.contains(0) else { return nil }
            body += a.utf8
            body.append(0)
        }
        guard body.count <= maxBytes else { return nil }
        return ShimFrame(.arguments, body).encoded()
    }

    public static func decode(_ body: ArraySlice<UInt8>) -> [String]? {
        guard body.last == 0 else { return body.isEmpty ? [] : nil }
        return body.dropLast().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Blocks until the whole frame has come; nil at an early end, another kind of frame or a
    /// length out of range (checked before anything of the payload is read).
    public static func read(fd: Int32) -> [String]? {
        guard let head = readExactly(fd: fd, count: 5), head[0] == ShimFrameKind.arguments.rawValue else { return nil }
        let n = head[1...].reduce(0) { $0 << 8 | Int($1) }
        guard n <= maxBytes, let body = readExactly(fd: fd, count: n) else { return nil }
        return decode(body[...])
    }

    static func readExactly(fd: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let r = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }
}

/// What a running shim hands to itself across the execve with which it sheds the memory its
/// start left behind (see berth-shim): its container's init (still its child, and it still that
/// child's subreaper) and the descriptors it serves, which the execve keeps. One argument,
/// `pid=…,listen=…,out=…,err=…,in=…,master=…,clients=a:b:…`; an absent descriptor is -1.
public struct ShimResumeState: Equatable, Sendable {
    public var containerPid: Int32
    public var listenFd: Int32
    public var outFd: Int32
    public var errFd: Int32
    public var stdinFd: Int32
    public var masterFd: Int32
    public var clients: [Int32]

    public init(containerPid: Int32, listenFd: Int32, outFd: Int32, errFd: Int32, stdinFd: Int32, masterFd: Int32, clients: [Int32]) {
        self.containerPid = containerPid; self.listenFd = listenFd; self.outFd = outFd; self.errFd = errFd
        self.stdinFd = stdinFd; self.masterFd = masterFd; self.clients = clients
    }

    /// Every descriptor named, once, absent ones left out.
    public var descriptors: [Int32] {
        var seen = Set<Int32>()
        return ([listenFd, outFd, errFd, stdinFd, masterFd] + clients).filter { $0 >= 0 && seen.insert($0).inserted }
    }

    public func encoded() -> String {
        "pid=\(containerPid),listen=\(listenFd),out=\(outFd),err=\(errFd),in=\(stdinFd),master=\(masterFd),clients="
            + clients.map(String.init).joined(separator: ":")
    }

    /// The state, or nil unless every field is there once, each a number in range: a pid above
    /// 0, the listening socket a descriptor above stdio, the others too or -1, at most 1,024 clients.
    public static func parse(_ text: String) -> ShimResumeState? {
        var fields: [String: String] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            let key = String(part[..<eq])
            guard fields[key] == nil else { return nil }
            fields[key] = String(part[part.index(after: eq)...])
        }
        guard fields.count == 7 else { return nil }
        func fd(_ key: String, optional: Bool = true) -> Int32? {
            guard let v = fields[key].flatMap({ Int32($0) }) else { return nil }
            if optional && v == -1 { return v }
            return v > 2 && v < 1 << 20 ? v : nil
        }
        guard let pid = fields["pid"].flatMap({ Int32($0) }), pid > 0, let listen = fd("listen", optional: false), let out = fd("out"),
            let err = fd("err"), let stdin = fd("in"), let master = fd("master"), let list = fields["clients"]
        else { return nil }
        var clients: [Int32] = []
        for c in list.split(separator: ":", omittingEmptySubsequences: false) where !list.isEmpty {
            guard clients.count < 1024, let v = Int32(c), v > 2, v < 1 << 20 else { return nil }
            clients.append(v)
        }
        let state = ShimResumeState(containerPid: pid, listenFd: listen, outFd: out, errFd: err, stdinFd: stdin, masterFd: master, clients: clients)
        // One descriptor serves one purpose, but for a terminal's: its master is also the input.
        let distinct = ([listen, out, err, master] + clients).filter { $0 >= 0 }
        guard Set(distinct).count == distinct.count, stdin == -1 || stdin == master || !distinct.contains(stdin) else { return nil }
        return state
    }
}
