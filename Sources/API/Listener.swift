import NIOSSL

/// Where berthd answers: a unix socket, or TCP — with mutual TLS (a client must present a
/// certificate signed by the CA), or in the clear only when the operator says so explicitly.
public enum Listener: Sendable, Equatable {
    case unix(path: String)
    case tcp(host: String, port: Int, tls: TLSFiles?)

    /// PEM files for `--tlsverify`.
    public struct TLSFiles: Sendable, Equatable {
        public var caCert: String
        public var cert: String
        public var key: String
        public init(caCert: String, cert: String, key: String) { self.caCert = caCert; self.cert = cert; self.key = key }
    }

    public struct Refused: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// `unix:///path` or `tcp://[host]:port` (Docker's default ports: 2376 with TLS, 2375 without).
    public static func parse(_ spec: String, tls: TLSFiles?, allowPlainTCP: Bool) throws(Refused) -> Listener {
        if spec.hasPrefix("unix://") {
            let path = String(spec.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw Refused(description: "invalid host \(spec): a unix socket path must be absolute") }
            return .unix(path: path)
        }
        guard spec.hasPrefix("tcp://") else {
            throw Refused(description: "invalid host \(spec): berthd listens on unix:///path or tcp://[host]:port")
        }
        var rest = Substring(spec.dropFirst("tcp://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = "", portText = ""
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {  // [::1]:2376
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            portText = rest[rest.index(after: close)...].hasPrefix(":") ? String(rest[rest.index(close, offsetBy: 2)...]) : ""
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = String(rest[rest.index(after: colon)...])
        } else {
            host = String(rest)
        }
        if host.isEmpty { host = "0.0.0.0" }
        let port: Int
        if portText.isEmpty {
            port = tls == nil ? 2375 : 2376
        } else {
            guard let p = Int(portText), (1...65535).contains(p) else { throw Refused(description: "invalid host \(spec): bad port") }
            port = p
        }
        if tls == nil && !allowPlainTCP {
            throw Refused(
                description: """
                    refusing to listen on \(spec) without TLS: anyone who reaches the port would be root on this host. \
                    Pass --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (clients must then present a certificate signed by CA), \
                    or --insecure-plain-tcp to accept that
                    """)
        }
        return .tcp(host: host, port: port, tls: tls)
    }

    /// The server side of mutual TLS: TLS 1.2 or later, the client's certificate checked
    /// against the CA (no host name: clients are identified by their certificate alone).
    static func sslContext(_ files: TLSFiles) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(files.cert).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = .noHostnameVerification
        config.trustRoots = .file(files.caCert)
        return try NIOSSLContext(configuration: config)
    }
}
