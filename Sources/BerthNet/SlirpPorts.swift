import Glibc
import JSON
import Sys

/// Rootless port publishing: slirp4netns listens on the host (as the user) and forwards to
/// the daemon's network namespace (tap0, 10.0.2.100), where Berth's usual DNAT takes the
/// connection on to the container. Spoken over slirp4netns's control socket: one JSON request
/// per connection, one JSON answer.
public struct SlirpPorts: Sendable {
    public let socketPath: String
    /// Where slirp4netns delivers forwarded connections inside the namespace.
    public static let guestAddress = "10.0.2.100"

    public init(socketPath: String) { self.socketPath = socketPath }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// The request that forwards hostIP:port (TCP or UDP) on the host to the same port here.
    public static func addRequest(proto: String, hostIP: String, port: Int) -> JSON {
        [
            "execute": "add_hostfwd",
            "arguments": [
                "proto": .string(proto), "host_addr": .string(hostIP), "host_port": .int(Int64(port)),
                "guest_addr": .string(guestAddress), "guest_port": .int(Int64(port)),
            ],
        ]
    }

    /// Forwards the port; returns slirp4netns's id for it. A host port slirp4netns cannot bind
    /// is refused in dockerd-rootless's words.
    public func add(proto: String, hostIP: String, port: Int) throws(Failure) -> Int64 {
        let answer = try request(SlirpPorts.addRequest(proto: proto, hostIP: hostIP, port: port))
        if let id = answer["return"]["id"].int { return id }
        let desc = answer["error"]["desc"].string ?? answer.serialized()
        // slirp4netns says only that it failed: below the host's first unprivileged port (read
        // here in the daemon's namespace, where the user namespace leaves it as the host has it
        // unless changed) that is the reason.
        let start = ((try? FS.readString("/proc/sys/net/ipv4/ip_unprivileged_port_start")) ?? "1024").trimmingSpaces()
        if port < (Int(start) ?? 1024) {
            throw Failure(
                "cannot expose privileged port \(port), you can add 'net.ipv4.ip_unprivileged_port_start=\(port)' to /etc/sysctl.conf (currently \(start)), or choose a larger port number (>= 1024): listen \(proto)4 \(hostIP):\(port): bind: permission denied"
            )
        }
        throw Failure("Bind for \(hostIP):\(port) failed: port is already allocated (\(desc))")
    }

    public func remove(id: Int64) {
        _ = try? request(["execute": "remove_hostfwd", "arguments": ["id": .int(id)]])
    }

    /// One exchange, at most 5 s each way and 64 KiB of answer (slirp4netns is ours, but a
    /// wedged helper must not wedge the engine).
    func request(_ body: JSON) throws(Failure) -> JSON {
        let fd: Int32
        do { fd = try UnixSocket.connect(socketPath) } catch { throw Failure("slirp4netns control socket: \(error)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(body.serialized().utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw Failure("slirp4netns control socket: \(String(cString: strerror(errno)))")
        }
        shutdown(fd, Int32(SHUT_WR))
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 65536 {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        guard let answer = try? JSON.parse(out) else { throw Failure("slirp4netns answered \(String(decoding: out.prefix(200), as: UTF8.self))") }
        return answer
    }
}
