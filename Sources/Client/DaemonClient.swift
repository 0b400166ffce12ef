import CTLS
import Glibc
import JSON
import Sys

/// An error the daemon answered with, or a transport failure.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(status: Int, message: String) { self.status = status; self.message = message }
    public var description: String { message }
}

public struct Response: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    public var json: JSON { (try? JSON.parse(body)) ?? .null }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// HTTP/1.1 to the Engine API over a unix socket, with blocking I/O: the CLI does one thing at a
/// time, and this keeps it free of event loops and Foundation, so it starts fast.
public final class DaemonClient {
    public let socketPath: String
    /// `ssh://[user@]host[:port]`: each connection is an ssh session running
    /// `docker system dial-stdio` on the host (the docker CLI's transport; Berth's end is
    /// `berth system dial-stdio`).
    public let ssh: (user: String?, host: String, port: String?)?
    /// `tcp://host:port`, with TLS when DOCKER_TLS_VERIFY is set (DOCKER_CERT_PATH, else
    /// ~/.docker: ca.pem, cert.pem, key.pem), as the docker CLI reads them.
    public let tcp: (host: String, port: String, tls: (ca: String, cert: String, key: String, skipVerify: Bool)?)?
    /// The API version every request names. DOCKER_API_VERSION pins it, as in the docker CLI (no
    /// negotiation). Otherwise requests start at the newest this client speaks, berthd's own, so
    /// against berthd nothing is added; a daemon that refuses it as too new (dockerd 20.10 speaks
    /// 1.41) names its own in the refusal, and the request goes again with that one, where the
    /// docker CLI's negotiation (a ping first) would end. A request that cannot be sent twice
    /// (a body read from a file, an upgrade, an answer read in parts) pings first instead.
    public private(set) var apiVersion = DaemonClient.newestVersion
    private var versionSettled = false
    public static let newestVersion = "1.44"
    public var versionPrefix: String { "/v" + apiVersion }

    /// `-H`, then DOCKER_HOST / BERTH_HOST, then the default socket.
    /// `tlsDir` (a context's TLS files: ca.pem, cert.pem, key.pem) makes a tcp:// host use TLS
    /// whatever DOCKER_TLS_VERIFY says. `skipVerify` (a context's skip-tls-verify) and DOCKER_TLS
    /// without DOCKER_TLS_VERIFY mean TLS without checking the server's certificate, as the
    /// docker CLI does; a client certificate is still presented when there is one.
    /// The docker CLI's global TLS flags: `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`,
    /// `--tlskey` (over DOCKER_TLS, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH).
    public struct TLSFlags: Sendable {
        public var tls = false
        public var verify: Bool? = nil
        public var ca: String? = nil, cert: String? = nil, key: String? = nil
        public init() {}
        public var any: Bool { tls || verify != nil || ca != nil || cert != nil || key != nil }
    }

    public init(host: String?, tlsDir: String? = nil, skipVerify: Bool = false, tlsFlags: TLSFlags = TLSFlags()) throws(ClientError) {
        if let pinned = Proc.getenv("DOCKER_API_VERSION"), !pinned.isEmpty {
            apiVersion = pinned
            versionSettled = true
        }
        let h = host ?? Proc.getenv("BERTH_HOST") ?? Proc.getenv("DOCKER_HOST") ?? "unix:///run/berth/berth.sock"
        if h.hasPrefix("ssh://") {
            var rest = Substring(h.dropFirst(6))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            var user: String? = nil, port: String? = nil
            if let at = rest.firstIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
            if let colon = rest.lastIndex(of: ":") { port = String(rest[rest.index(after: colon)...]); rest = rest[..<colon] }
            guard !rest.isEmpty, port.map({ Int($0).map { (1...65535).contains($0) } ?? false }) ?? true else {
                throw ClientError(status: 0, message: "invalid ssh host \(h): expected ssh://[user@]host[:port]")
            }
            ssh = (user, String(rest), port)
            tcp = nil
            socketPath = ""
            return
        }
        ssh = nil
        if h.hasPrefix("tcp://") {
            var rest = Substring(h.dropFirst(6))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            let verifyEnv = tlsFlags.verify ?? !(Proc.getenv("DOCKER_TLS_VERIFY") ?? "").isEmpty
            let tlsOn = tlsFlags.tls || tlsFlags.ca != nil || tlsFlags.cert != nil || !(Proc.getenv("DOCKER_TLS") ?? "").isEmpty
            let insecure = skipVerify || (!verifyEnv && tlsDir == nil && tlsOn)
            let verify = tlsDir != nil || verifyEnv || insecure
            var host = String(rest), port = verify ? "2376" : "2375"
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                host = String(rest[..<colon])
                port = String(rest[rest.index(after: colon)...])
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, Int(port).map({ (1...65535).contains($0) }) ?? false else {
                throw ClientError(status: 0, message: "invalid tcp host \(h): expected tcp://host:port")
            }
            var tls: (ca: String, cert: String, key: String, skipVerify: Bool)? = nil
            if verify {
                let dir = tlsDir ?? Proc.getenv("DOCKER_CERT_PATH") ?? ((Proc.getenv("HOME") ?? "/root") + "/.docker")
                tls = (tlsFlags.ca ?? dir + "/ca.pem", tlsFlags.cert ?? dir + "/cert.pem", tlsFlags.key ?? dir + "/key.pem", insecure)
            }
            tcp = (host, port, tls)
            socketPath = ""
            return
        }
        tcp = nil
        guard h.hasPrefix("unix://") else {
            throw ClientError(status: 0, message: "unsupported host \(h): berth speaks to unix://, tcp:// and ssh:// hosts")
        }
        socketPath = String(h.dropFirst(7))
    }

    public static func query(_ items: [(String, String)]) -> String {
        if items.isEmpty { return "" }
        return "?" + items.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }

    func connect() throws(ClientError) -> Int32 {
        if let ssh { return try connectSSH(ssh) }
        if let tcp { return try connectTCP(tcp) }
        do { return try UnixSocket.connect(socketPath) } catch {
            throw ClientError(status: 0, message: "Cannot connect to the Docker daemon at unix://\(socketPath). Is the docker daemon running?")
        }
    }

    private func sendRequest(
        _ fd: Int32, method: String, path: String, body: [UInt8]?, bodyFile: Int32?, contentType: String?, extraHeaders: [(String, String)]
    ) throws(ClientError) {
        var head = "\(method) \(versionPrefix)\(path) HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth/0.1.0\r\n"
        for (k, v) in extraHeaders { head += "\(k): \(v)\r\n" }
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
        } else if bodyFile != nil {
            head += "Transfer-Encoding: chunked\r\n"
        } else if method == "POST" || method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        do {
            try FS.writeAll(fd: fd, Array(head.utf8) + (body ?? []))
            if let src = bodyFile {
                var buf = [UInt8](repeating: 0, count: 1 << 20)
                while true {
                    let n = buf.withUnsafeMutableBytes { Glibc.read(src, $0.baseAddress, 1 << 20) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    try FS.writeAll(fd: fd, Array(String(n, radix: 16).utf8) + [13, 10] + buf[0..<n] + [13, 10])
                }
                try FS.writeAll(fd: fd, Array("0\r\n\r\n".utf8))
            }
        } catch { throw ClientError(status: 0, message: "error during connect: \(error)") }
    }

    /// One request; the whole body read (Content-Length, chunked, or until close).
    public func request(
        _ method: String, _ path: String, json: JSON? = nil, body: [UInt8]? = nil, bodyFile: Int32? = nil,
        contentType: String? = nil, headers: [(String, String)] = []
    ) throws(ClientError) -> Response {
        var chunks: [UInt8] = []
        let r = try stream(method, path, json: json, body: body, bodyFile: bodyFile, contentType: contentType, headers: headers) {
            chunks += $0; return true
        }
        return Response(status: r.status, headers: r.headers, body: chunks)
    }

    /// Like `request`, but hands body bytes to `onData` as they arrive (logs -f, wait, progress).
    @discardableResult
    public func stream(
        _ method: String, _ path: String, json: JSON? = nil, body: [UInt8]? = nil, bodyFile: Int32? = nil, contentType: String? = nil,
        headers: [(String, String)] = [], onHead: ((Int) -> Void)? = nil, onData: ([UInt8]) -> Bool
    ) throws(ClientError) -> Response {
        if bodyFile != nil { settleVersion() }
        let fd = try connect()
        defer { close(fd) }
        var payload = body
        var ctype = contentType
        if let json { payload = json.bytes; ctype = "application/json" }
        try sendRequest(
            fd, method: method, path: path, body: payload, bodyFile: bodyFile, contentType: ctype, extraHeaders: headers + [("Connection", "close")])
        var reader = SocketReader(fd: fd)
        let (status, hdrs) = try reader.readHead()
        let resp = Response(status: status, headers: hdrs, body: [])
        if status >= 400 && method != "HEAD" {
            var all: [UInt8] = []
            try reader.readBody(resp) {
                all += $0; return true
            }
            let msg = (try? JSON.parse(all))?["message"].string ?? String(decoding: all, as: UTF8.self)
            if !versionSettled, status == 400, let older = Self.versionNamedInRefusal(msg, of: apiVersion) {
                apiVersion = older
                versionSettled = true
                return try stream(
                    method, path, json: json, body: body, bodyFile: bodyFile, contentType: contentType, headers: headers, onHead: onHead, onData: onData)
            }
            versionSettled = true
            onHead?(status)
            throw ClientError(status: status, message: "Error response from daemon: " + msg.trimmingSpaces())
        }
        versionSettled = true
        onHead?(status)
        if method == "HEAD" || status == 204 || status == 304 { return resp }
        try reader.readBody(resp, onData)
        return resp
    }

    /// The daemon's version from its refusal of ours ("client version 1.44 is too new. Maximum
    /// supported API version is 1.41", dockerd's words), when it is an older one; else nil.
    static func versionNamedInRefusal(_ message: String, of ours: String) -> String? {
        let marker = "Maximum supported API version is "
        guard message.contains("client version \(ours) is too new"), let r = message.firstRange(of: marker) else { return nil }
        let v = String(message[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        return isOlder(v, than: ours) ? v : nil
    }

    /// Whether `a` ("1.41") names an older API version than `b`; false for what is no version.
    static func isOlder(_ a: String, than b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0) }, y = b.split(separator: ".").map { Int($0) }
        guard x.count == 2, y.count == 2, let x0 = x[0], let x1 = x[1], let y0 = y[0], let y1 = y[1] else { return false }
        return (x0, x1) < (y0, y1)
    }

    /// Before a request that cannot be sent twice: the daemon's version from a ping's
    /// `API-Version` header, when it is older than ours (the docker CLI's negotiation).
    func settleVersion() {
        guard !versionSettled else { return }
        versionSettled = true
        guard let fd = try? connect() else { return }
        defer { close(fd) }
        guard (try? FS.writeAll(fd: fd, Array("HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".utf8))) != nil else { return }
        var reader = SocketReader(fd: fd)
        guard let (_, headers) = try? reader.readHead(),
            let v = headers.first(where: { $0.0.lowercased() == "api-version" })?.1.trimmingSpaces(), Self.isOlder(v, than: apiVersion)
        else { return }
        apiVersion = v
    }

    /// Upgrades the connection (attach) and returns the raw socket plus any bytes already read.
    /// `upgrade` is the protocol asked for (`h2c` for a BuildKit session), `headers` go with it.
    public func hijack(
        _ path: String, json: JSON? = nil, upgrade: String = "tcp", headers: [(String, String)] = []
    ) throws(ClientError) -> (fd: Int32, pending: [UInt8]) {
        try readHijack(try sendHijack(path, json: json, upgrade: upgrade, headers: headers))
    }

    /// `hijack`'s request alone: its answer is read by `readHijack`, so several requests can be
    /// on their way at once (`run` sends its attach and its wait, then reads both answers).
    public func sendHijack(
        _ path: String, json: JSON? = nil, upgrade: String = "tcp", headers: [(String, String)] = []
    ) throws(ClientError) -> Int32 {
        settleVersion()
        let fd = try connect()
        let body = json?.bytes
        do throws(ClientError) {
            try sendRequest(
                fd, method: "POST", path: path, body: body ?? [], bodyFile: nil, contentType: body == nil ? nil : "application/json",
                extraHeaders: [("Connection", "Upgrade"), ("Upgrade", upgrade)] + headers)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public func readHijack(_ fd: Int32) throws(ClientError) -> (fd: Int32, pending: [UInt8]) {
        var reader = SocketReader(fd: fd)
        let (status, hdrs) = try reader.readHead()
        if status >= 400 {
            var all: [UInt8] = []
            try? reader.readBody(
                Response(status: status, headers: hdrs, body: []),
                {
                    all += $0; return true
                })
            close(fd)
            let msg = (try? JSON.parse(all))?["message"].string ?? String(decoding: all, as: UTF8.self)
            throw ClientError(status: status, message: "Error response from daemon: " + msg.trimmingSpaces())
        }
        return (fd, reader.takeBuffered())
    }
}

/// Buffered reads of an HTTP response from a socket.
struct SocketReader {
    let fd: Int32
    var buf: [UInt8] = []
    var pos = 0
    var eof = false

    mutating func fill() throws(ClientError) -> Bool {
        if pos > 0 && pos == buf.count { buf.removeAll(keepingCapacity: true); pos = 0 }
        var tmp = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = tmp.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 65536) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ClientError(status: 0, message: "read: \(SysError("read"))") }
            if n == 0 { eof = true; return false }
            buf += tmp[0..<n]
            return true
        }
    }

    mutating func line() throws(ClientError) -> String? {
        while true {
            if let i = buf[pos...].firstIndex(of: 10) {
                var end = i
                if end > pos && buf[end - 1] == 13 { end -= 1 }
                let s = String(decoding: buf[pos..<end], as: UTF8.self)
                pos = i + 1
                return s
            }
            if !(try fill()) { return nil }
        }
    }

    mutating func readHead() throws(ClientError) -> (Int, [(String, String)]) {
        guard let status = try line() else { throw ClientError(status: 0, message: "error during connect: EOF") }
        let parts = status.split(separator: " ")
        let code = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        var headers: [(String, String)] = []
        while let l = try line(), !l.isEmpty {
            if let c = l.firstIndex(of: ":") { headers.append((String(l[..<c]), String(l[l.index(after: c)...]).trimmingSpaces())) }
        }
        return (code, headers)
    }

    mutating func take(_ n: Int) throws(ClientError) -> [UInt8] {
        while buf.count - pos < n { if !(try fill()) { break } }
        let k = min(n, buf.count - pos)
        let out = Array(buf[pos..<pos + k])
        pos += k
        return out
    }

    mutating func takeBuffered() -> [UInt8] { let out = Array(buf[pos...]); pos = buf.count; return out }

    mutating func readBody(_ r: Response, _ onData: ([UInt8]) -> Bool) throws(ClientError) {
        if r.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while let l = try line() {
                let size = Int(l.split(separator: ";").first.map(String.init)?.trimmingSpaces() ?? "", radix: 16) ?? 0
                if size == 0 { _ = try line(); return }
                let data = try take(size)
                _ = try line()
                if !data.isEmpty && !onData(data) { return }
            }
            return
        }
        if let len = r.header("Content-Length").flatMap({ Int($0) }) {
            var left = len
            while left > 0 {
                if pos == buf.count, !(try fill()) { return }
                let k = min(left, buf.count - pos)
                let data = Array(buf[pos..<pos + k]); pos += k; left -= k
                if !onData(data) { return }
            }
            return
        }
        while true {
            if pos < buf.count { let data = takeBuffered(); if !onData(data) { return } }
            if !(try fill()) { return }
        }
    }
}

/// A request whose response head has arrived and whose body is read later: `docker run` sends
/// wait before start and reads the exit status after the output.
public final class PendingResponse {
    let fd: Int32
    var reader: SocketReader
    public let status: Int
    let headers: [(String, String)]

    init(fd: Int32, reader: SocketReader, status: Int, headers: [(String, String)]) {
        self.fd = fd; self.reader = reader; self.status = status; self.headers = headers
    }
    deinit { close(fd) }

    public func readBody() throws(ClientError) -> [UInt8] {
        var all: [UInt8] = []
        try reader.readBody(
            Response(status: status, headers: headers, body: []),
            {
                all += $0; return true
            })
        return all
    }
}

extension DaemonClient {
    public func open(_ method: String, _ path: String) throws(ClientError) -> PendingResponse {
        try readOpen(try sendOpen(method, path))
    }

    /// `open`'s request alone (see `sendHijack`); `readOpen` reads its answer's head.
    public func sendOpen(_ method: String, _ path: String) throws(ClientError) -> Int32 {
        settleVersion()
        let fd = try connect()
        let head = "\(method) \(versionPrefix)\(path) HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        do { try FS.writeAll(fd: fd, Array(head.utf8)) } catch { close(fd); throw ClientError(status: 0, message: "\(error)") }
        return fd
    }

    public func readOpen(_ fd: Int32) throws(ClientError) -> PendingResponse {
        var reader = SocketReader(fd: fd)
        let (status, headers) = try reader.readHead()
        let p = PendingResponse(fd: fd, reader: reader, status: status, headers: headers)
        if status >= 400 {
            let body = (try? p.readBody()) ?? []
            let msg = (try? JSON.parse(body))?["message"].string ?? String(decoding: body, as: UTF8.self)
            throw ClientError(status: status, message: "Error response from daemon: " + msg.trimmingSpaces())
        }
        return p
    }
}

extension DaemonClient {
    /// One end of a socket pair whose other end is an ssh process's stdio.
    func connectSSH(_ t: (user: String?, host: String, port: String?)) throws(ClientError) -> Int32 {
        var sv: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            throw ClientError(status: 0, message: "socketpair: \(String(cString: strerror(errno)))")
        }
        var argv = ["ssh", "-T", "-o", "ConnectTimeout=30"]
        if let u = t.user { argv += ["-l", u] }
        if let p = t.port { argv += ["-p", p] }
        argv += ["--", t.host, "docker", "system", "dial-stdio"]
        do { _ = try Proc.spawn(argv, stdin: sv[1], stdout: sv[1]) } catch {
            close(sv[0]); close(sv[1])
            throw ClientError(status: 0, message: "error during connect: ssh: \(error)")
        }
        close(sv[1])
        return sv[0]
    }
}

extension DaemonClient {
    /// A TCP connection; with TLS, one end of a socket pair whose other end a thread relays
    /// through OpenSSL, so the rest of the client keeps reading and writing a plain descriptor.
    func connectTCP(_ t: (host: String, port: String, tls: (ca: String, cert: String, key: String, skipVerify: Bool)?)) throws(ClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(t.host, t.port, &hints, &res) == 0, let first = res else {
            throw ClientError(status: 0, message: "error during connect: lookup \(t.host): no such host")
        }
        defer { freeaddrinfo(res) }
        var fd: Int32 = -1
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd >= 0 && Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { break }
            if fd >= 0 { close(fd); fd = -1 }
            ai = a.pointee.ai_next
        }
        guard fd >= 0 else {
            throw ClientError(status: 0, message: "Cannot connect to the Docker daemon at tcp://\(t.host):\(t.port). Is the docker daemon running?")
        }
        // A request is a few small writes (a TLS record each): without NODELAY the second waits
        // for the first's delayed ACK, 40 ms a request (berth over TLS took 2.5× the socket's time).
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard let tls = t.tls else { return fd }
        var err = [CChar](repeating: 0, count: 512)
        guard let session = berth_tls_connect(fd, t.host, tls.ca, tls.cert, tls.key, tls.skipVerify ? 1 : 0, &err, err.count) else {
            close(fd)
            let text = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ClientError(status: 0, message: "error during connect: \(text)")
        }
        var sv: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            berth_tls_free(session); close(fd)
            throw ClientError(status: 0, message: "socketpair failed")
        }
        let relay = TLSRelay(session: session, network: fd, local: sv[1])
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { arg in
                let r = Unmanaged<TLSRelay>.fromOpaque(arg!).takeRetainedValue()
                r.run()
                return nil
            }, Unmanaged.passRetained(relay).toOpaque())
        guard started == 0 else { close(sv[0]); close(sv[1]); berth_tls_free(session); close(fd); throw ClientError(status: 0, message: "thread") }
        pthread_detach(thread)
        return sv[0]
    }
}

/// Relays between a local socket and a TLS session until both directions end.
final class TLSRelay {
    let session: OpaquePointer
    let network: Int32
    let local: Int32
    init(session: OpaquePointer, network: Int32, local: Int32) { self.session = session; self.network = network; self.local = local }

    func run() {
        var fds = [pollfd(fd: network, events: Int16(POLLIN), revents: 0), pollfd(fd: local, events: Int16(POLLIN), revents: 0)]
        var buf = [UInt8](repeating: 0, count: 65536)
        var fromServer = true, fromClient = true
        while fromServer {
            if berth_tls_pending(session) == 0 {
                if poll(&fds, 2, -1) < 0 {
                    if errno == EINTR { continue }
                    break
                }
            } else {
                fds[0].revents = Int16(POLLIN)
                fds[1].revents = 0
            }
            if fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { berth_tls_read(session, $0.baseAddress, $0.count) }
                if n > 0 {
                    let ok = buf.withUnsafeBytes { p in (try? FS.writeAll(fd: local, UnsafeRawBufferPointer(rebasing: p[0..<n]))) != nil }
                    if !ok { break }
                } else {
                    fromServer = false
                }
            }
            if fromClient && fds[1].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(local, $0.baseAddress, $0.count) }
                if n > 0 {
                    if buf.withUnsafeBytes({ berth_tls_write_all(session, $0.baseAddress, n) }) != 0 { break }
                } else if n == 0 || errno != EINTR {
                    // The client is done sending: TLS's close_notify, a half-close the daemon reads as EOF.
                    berth_tls_shutdown_write(session)
                    fromClient = false
                    fds[1].fd = -1
                }
            }
        }
        shutdown(local, Int32(SHUT_RDWR))
        close(local)
        berth_tls_free(session)
        close(network)
    }
}
