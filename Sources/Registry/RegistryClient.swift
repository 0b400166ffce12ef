import AsyncHTTPClient
import Foundation
import JSON
import NIOCore
import NIOHTTP1
import NIOSSL
import OCI
import Sys

public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let status: Int
    public init(_ message: String, status: Int = 0) { self.message = message; self.status = status }
    public var description: String { message }
}

/// Credentials for one registry (from `X-Registry-Auth`, `POST /auth` or the CLI's config).
public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String
    public var identityToken: String?
    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username; self.password = password; self.identityToken = identityToken
    }
    var basicHeader: String { "Basic " + Base64.encode(Array("\(username):\(password)".utf8)) }
}

/// The distribution protocol (Docker Registry HTTP API v2) as a client: challenge-driven auth
/// (basic, bearer with a per-scope token cache), manifests, blobs streamed to disk while hashed,
/// monolithic uploads, and redirects followed without our Authorization header.
public final class RegistryClient: Sendable {
    let http: HTTPClient
    let clients = HostClients()
    let certsDirs: [String]
    /// Blobs larger than this go up in PATCH chunks of this size; 0 means always monolithic.
    let uploadChunkSize: Int64
    let insecure: @Sendable (String) -> Bool
    /// registry domain → mirror base URLs, tried in order before the origin (pulls only).
    let mirrors: [String: [String]]
    private let tokens = TokenCache()
    private let deadEndpoints = DeadEndpoints()

    public init(
        insecureRegistries: [String] = [], mirrors: [String: [String]] = [:], certsDirs: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"],
        loopbackIsInsecure: Bool = true, uploadChunkSize: Int64 = 32 << 20
    ) {
        self.certsDirs = certsDirs
        self.uploadChunkSize = uploadChunkSize
        self.mirrors = mirrors.mapValues { $0.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } }
        var cfg = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(15), read: .seconds(120)))
        cfg.httpVersion = .http1Only
        cfg.connectionPool.retryConnectionEstablishment = Self.retryConnecting
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
        let listed = InsecureRegistries(insecureRegistries, loopbackIsInsecure: loopbackIsInsecure)
        insecure = { listed.contains($0) }
    }

    /// `docker.io` is served by `registry-1.docker.io`. Insecure registries are tried over
    /// HTTPS first (certificate unchecked), then plain HTTP, as Docker does; the answer is kept.
    public func baseURL(_ domain: String) -> String {
        let host = domain == "docker.io" ? "registry-1.docker.io" : domain
        if insecure(domain) { return (clients.speaksPlainHTTP(host) ? "http://" : "https://") + host }
        return "https://" + host
    }

    /// The HTTP client for a URL's host: the shared one, or one with the host's TLS material
    /// from certs.d (`*.crt` CAs, `*.cert`/`*.key` client pair), or one that skips verification
    /// for insecure registries.
    func client(for url: String) throws -> HTTPClient {
        guard url.hasPrefix("https://") else { return http }
        let host = String(url.dropFirst(8).prefix { $0 != "/" })
        if let c = clients.get(host) { return c }
        var tls = TLSConfiguration.makeClientConfiguration()
        var custom = false
        if insecure(host) { tls.certificateVerification = .none; custom = true }
        for dir in certsDirs {
            let d = dir + "/" + host
            guard let files = try? FS.list(d) else { continue }
            for f in files.sorted() where f.hasSuffix(".crt") {
                tls.additionalTrustRoots.append(.file(d + "/" + f)); custom = true
            }
            for f in files.sorted() where f.hasSuffix(".cert") {
                let key = d + "/" + f.dropLast(5) + ".key"
                guard FS.exists(key) else { throw RegistryError("missing key \(key) for client certificate \(d)/\(f)") }
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(d + "/" + f).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                custom = true
            }
        }
        guard custom else { return http }
        var cfg = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(15), read: .seconds(120)))
        cfg.httpVersion = .http1Only
        cfg.connectionPool.retryConnectionEstablishment = Self.retryConnecting
        return clients.set(host, HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg))
    }

    public struct Reply: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: HTTPClientResponse.Body
    }

    /// One request with auth: on 401 answers the challenge once (fetching a token when asked).
    func send(
        _ method: HTTPMethod, _ url: String, domain: String, scope: String, credentials: Credentials?,
        headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil, bodyFactory: (@Sendable () throws -> HTTPClientRequest.Body)? = nil
    ) async throws -> Reply {
        try RegistryClient.checkResolvable(url)
        var auth = await tokens.header(domain: domain, scope: scope)
        for attempt in 0..<2 {
            var req = HTTPClientRequest(url: url)
            req.method = method
            for (k, v) in headers { req.headers.add(name: k, value: v) }
            if let auth { req.headers.add(name: "Authorization", value: auth) }
            if let bodyFactory { req.body = try bodyFactory() } else if let body { req.body = body }
            let resp: HTTPClientResponse
            do { resp = try await client(for: url).execute(req, timeout: .seconds(600)) } catch {
                throw RegistryError("Get \"\(url)\": \(error)")
            }
            if resp.status == .unauthorized && attempt == 0, let challenge = resp.headers.first(name: "WWW-Authenticate") {
                _ = try? await resp.body.collect(upTo: 1 << 20)
                auth = try await answer(challenge, domain: domain, scope: scope, credentials: credentials)
                await tokens.store(auth!, domain: domain, scope: scope)
                continue
            }
            if (300..<400).contains(Int(resp.status.code)), let loc = resp.headers.first(name: "Location") {
                _ = try? await resp.body.collect(upTo: 1 << 20)
                // Blob storage elsewhere: our registry credentials must not travel there.
                var r2 = HTTPClientRequest(url: resolve(loc, against: url))
                r2.method = method
                let resp2 = try await client(for: r2.url).execute(r2, timeout: .seconds(600))
                return Reply(status: Int(resp2.status.code), headers: resp2.headers, body: resp2.body)
            }
            return Reply(status: Int(resp.status.code), headers: resp.headers, body: resp.body)
        }
        throw RegistryError("unauthorized: authentication required", status: 401)
    }

    /// The HTTP client retries an unresolvable host until its connect timeout; say it at once,
    /// in Docker's words.
    static func checkResolvable(_ url: String) throws {
        guard let schemeEnd = url.firstRange(of: "://") else { return }
        let rest = url[schemeEnd.upperBound...]
        let hostPort = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
        let host = hostPort.hasPrefix("[") ? String(hostPort) : String(hostPort.split(separator: ":").first ?? "")
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, nil, &result)
        if let result { freeaddrinfo(result) }
        if rc != 0 {
            throw RegistryError("Get \"\(url)\": dial tcp: lookup \(host): no such host")
        }
    }

    func resolve(_ location: String, against url: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let schemeEnd = url.firstRange(of: "://") else { return location }
        let hostEnd = url[schemeEnd.upperBound...].firstIndex(of: "/") ?? url.endIndex
        return String(url[..<hostEnd]) + (location.hasPrefix("/") ? location : "/" + location)
    }

    func answer(_ challenge: String, domain: String, scope: String, credentials: Credentials?) async throws -> String {
        let lower = challenge.lowercased()
        if lower.hasPrefix("basic") {
            guard let credentials else { throw RegistryError("unauthorized: authentication required", status: 401) }
            return credentials.basicHeader
        }
        guard lower.hasPrefix("bearer") else { throw RegistryError("unsupported auth challenge: \(challenge)") }
        let params = RegistryClient.challengeParams(String(challenge.dropFirst(6)))
        guard let realm = params["realm"] else { throw RegistryError("bearer challenge without realm") }
        var q: [String] = []
        if let service = params["service"] { q.append("service=" + escape(service)) }
        // Ask for what we need (push needs pull,push) and what the registry named, if different.
        q.append("scope=" + escape(scope))
        if let asked = params["scope"], asked != scope { q.append("scope=" + escape(asked)) }
        if let credentials, credentials.identityToken == nil { q.append("account=" + escape(credentials.username)) }
        var req = HTTPClientRequest(url: realm + (realm.contains("?") ? "&" : "?") + q.joined(separator: "&"))
        if let credentials { req.headers.add(name: "Authorization", value: credentials.basicHeader) }
        let resp = try await client(for: req.url).execute(req, timeout: .seconds(60))
        let body = try await resp.body.collect(upTo: 1 << 20)
        guard resp.status == .ok else {
            throw RegistryError(
                resp.status == .unauthorized ? "unauthorized: incorrect username or password" : "token server answered \(resp.status.code)",
                status: Int(resp.status.code))
        }
        let j = (try? JSON.parse(Array(buffer: body))) ?? .null
        guard let token = j["token"].string ?? j["access_token"].string else { throw RegistryError("token server gave no token") }
        return "Bearer " + token
    }

    func escape(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? s }

    /// `realm="https://auth",service="reg",scope="repository:x:pull"`
    public static func challengeParams(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        var i = s.startIndex
        while i < s.endIndex {
            while i < s.endIndex, s[i] == " " || s[i] == "," { i = s.index(after: i) }
            guard let eq = s[i...].firstIndex(of: "=") else { break }
            let key = String(s[i..<eq]).trimmingSpaces().lowercased()
            var j = s.index(after: eq)
            var value = ""
            if j < s.endIndex, s[j] == "\"" {
                j = s.index(after: j)
                while j < s.endIndex, s[j] != "\"" { value.append(s[j]); j = s.index(after: j) }
                if j < s.endIndex { j = s.index(after: j) }
            } else {
                while j < s.endIndex, s[j] != "," { value.append(s[j]); j = s.index(after: j) }
            }
            out[key] = value
            i = j
        }
        return out
    }

    // MARK: operations

    public static let manifestAccept = [MediaType.dockerManifest, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.ociIndex]

    public struct FetchedManifest: Sendable {
        public var bytes: [UInt8]
        public var mediaType: String
        public var digest: Digest
    }

    /// Where pulls of a registry's content go: its mirrors, then the registry itself.
    func pullEndpoints(_ domain: String) -> [(base: String, tokenKey: String, origin: Bool)] {
        (mirrors[domain] ?? []).map { ($0, $0, false) } + [(baseURL(domain), domain, true)]
    }

    /// Tries each endpoint in order; the origin's error is the one reported.
    func withMirrors<T>(_ domain: String, _ body: (String, String) async throws -> T) async throws -> T {
        var lastError: Error = RegistryError("no endpoint")
        for e in pullEndpoints(domain) {
            if !e.origin, !(await deadEndpoints.isUsable(e.base)) { continue }
            do { return try await body(e.base, e.tokenKey) } catch {
                lastError = error
                if e.origin { throw error }
            }
        }
        throw lastError
    }

    public func manifest(_ ref: Reference, reference: String, credentials: Credentials?) async throws -> FetchedManifest {
        try await withMirrors(ref.domain) { base, key in
            try await manifest(ref, reference: reference, credentials: credentials, base: base, tokenKey: key)
        }
    }

    func manifest(_ ref: Reference, reference: String, credentials: Credentials?, base: String, tokenKey: String) async throws -> FetchedManifest {
        let url = base + "/v2/\(ref.path)/manifests/\(reference)"
        let r = try await send(
            .GET, url, domain: tokenKey, scope: "repository:\(ref.path):pull", credentials: credentials,
            headers: [("Accept", RegistryClient.manifestAccept.joined(separator: ", "))])
        let body = Array(buffer: try await r.body.collect(upTo: 8 << 20))
        guard r.status == 200 else {
            if r.status == 404 {
                throw RegistryError("manifest for \(ref.familiarRepository):\(reference) not found: manifest unknown: manifest unknown", status: 404)
            }
            if r.status == 401 {
                throw RegistryError(
                    "pull access denied for \(ref.familiarRepository), repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                    status: 401)
            }
            throw RegistryError("unexpected status \(r.status) fetching manifest: \(String(decoding: body.prefix(300), as: UTF8.self))", status: r.status)
        }
        let digest = Digest.of(body)
        if let want = Digest(parsing: reference), want != digest {
            throw RegistryError("manifest verification failed for digest \(want)")
        }
        let mt =
            r.headers.first(name: "Content-Type")?.split(separator: ";").first.map(String.init)
            ?? ((try? JSON.parse(body))?["mediaType"].string ?? MediaType.dockerManifest)
        return FetchedManifest(bytes: body, mediaType: mt, digest: digest)
    }

    /// Streams a blob into `file` (appending from `resumeFrom` bytes when the registry honours
    /// Range), hashing everything; a digest mismatch deletes the file and fails.
    /// `limit`: the most bytes accepted — the descriptor's size: a registry that sends more is
    /// cut off there (the digest would fail only at the end, after filling the disk).
    public func fetchBlob(
        _ ref: Reference, digest: Digest, to file: String, credentials: Credentials?, limit: Int64 = 64 << 30,
        progress: @Sendable (Int64) async -> Void
    ) async throws {
        try await withMirrors(ref.domain) { base, key in
            try await fetchBlob(ref, digest: digest, to: file, credentials: credentials, base: base, tokenKey: key, limit: limit, progress: progress)
        }
    }

    func fetchBlob(
        _ ref: Reference, digest: Digest, to file: String, credentials: Credentials?, base: String, tokenKey: String, limit: Int64,
        progress: @Sendable (Int64) async -> Void
    ) async throws {
        let url = base + "/v2/\(ref.path)/blobs/\(digest)"
        let have = FS.size(file) ?? 0
        let hasher = SHA256()
        var headers: [(String, String)] = []
        if have > 0 {
            headers.append(("Range", "bytes=\(have)-"))
        }
        let r = try await send(.GET, url, domain: tokenKey, scope: "repository:\(ref.path):pull", credentials: credentials, headers: headers)
        guard r.status == 200 || r.status == 206 else {
            _ = try? await r.body.collect(upTo: 1 << 20)
            throw RegistryError("error fetching blob \(digest.short): status \(r.status)", status: r.status)
        }
        let resuming = r.status == 206 && have > 0
        let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC | (resuming ? O_APPEND : O_TRUNC), 0o600)
        guard fd >= 0 else { throw RegistryError("open \(file): \(SysError("open"))") }
        defer { close(fd) }
        var done: Int64 = 0
        if resuming {
            // Re-hash what is already on disk.
            done = hasher.update(file: file) ?? 0
        }
        var lastReport = done
        for try await chunk in r.body {
            let n = chunk.readableBytes
            try chunk.withUnsafeReadableBytes { raw in
                hasher.update(raw)
                try FS.writeAll(fd: fd, raw)
            }
            done += Int64(n)
            if done > limit {
                unlink(file)
                throw RegistryError("filesystem layer verification failed for digest \(digest): more than the \(limit) bytes its descriptor gives")
            }
            if done - lastReport >= 512 << 10 { lastReport = done; await progress(done) }
        }
        await progress(done)
        let got = hasher.finalize()
        if got != digest {
            unlink(file)
            throw RegistryError("filesystem layer verification failed for digest \(digest)")
        }
    }

    public func blobExists(_ ref: Reference, digest: Digest, credentials: Credentials?) async throws -> Bool {
        let r = try await send(
            .HEAD, baseURL(ref.domain) + "/v2/\(ref.path)/blobs/\(digest)", domain: ref.domain,
            scope: "repository:\(ref.path):pull,push", credentials: credentials)
        _ = try? await r.body.collect(upTo: 1 << 20)
        return r.status == 200
    }

    /// Tries a cross-repository mount; true when the registry mounted it.
    public func mountBlob(_ ref: Reference, digest: Digest, from: String, credentials: Credentials?) async throws -> Bool {
        let url = baseURL(ref.domain) + "/v2/\(ref.path)/blobs/uploads/?mount=\(digest)&from=\(from)"
        let r = try await send(
            .POST, url, domain: ref.domain, scope: "repository:\(ref.path):pull,push", credentials: credentials,
            headers: [("Content-Length", "0")])
        _ = try? await r.body.collect(upTo: 1 << 20)
        return r.status == 201
    }

    /// POST an upload session, then PUT the whole blob with its digest (monolithic upload).
    public func uploadBlob(_ ref: Reference, digest: Digest, file: String, credentials: Credentials?) async throws {
        let scope = "repository:\(ref.path):pull,push"
        let start = try await send(
            .POST, baseURL(ref.domain) + "/v2/\(ref.path)/blobs/uploads/", domain: ref.domain, scope: scope,
            credentials: credentials, headers: [("Content-Length", "0")])
        _ = try? await start.body.collect(upTo: 1 << 20)
        guard start.status == 202, let loc = start.headers.first(name: "Location") else {
            if start.status == 401 || start.status == 403 { throw RegistryError("denied: requested access to the resource is denied", status: start.status) }
            throw RegistryError("starting upload: status \(start.status)", status: start.status)
        }
        var url = resolve(loc, against: baseURL(ref.domain))
        let size = FS.size(file) ?? 0
        let path = file
        if uploadChunkSize > 0 && size > uploadChunkSize {
            url = try await uploadChunks(url, file: path, size: size, domain: ref.domain, scope: scope, credentials: credentials)
            url += (url.contains("?") ? "&" : "?") + "digest=" + digest.description
            let r = try await send(.PUT, url, domain: ref.domain, scope: scope, credentials: credentials, headers: [("Content-Length", "0")])
            let body = try? await r.body.collect(upTo: 1 << 20)
            guard r.status == 201 else {
                throw RegistryError("completing upload of \(digest.short): status \(r.status) \(body.map { String(buffer: $0) } ?? "")", status: r.status)
            }
            return
        }
        url += (url.contains("?") ? "&" : "?") + "digest=" + digest.description
        let r = try await send(
            .PUT, url, domain: ref.domain, scope: scope, credentials: credentials,
            headers: [("Content-Type", "application/octet-stream")],
            bodyFactory: { .stream(FileChunks(path: path), length: .known(size)) })
        let body = try? await r.body.collect(upTo: 1 << 20)
        guard r.status == 201 else {
            throw RegistryError("uploading blob \(digest.short): status \(r.status) \(body.map { String(buffer: $0) } ?? "")", status: r.status)
        }
    }

    /// PATCHes the blob in `uploadChunkSize` pieces with Content-Range; returns the location for
    /// the closing PUT (each answer names the next one).
    func uploadChunks(_ start: String, file: String, size: Int64, domain: String, scope: String, credentials: Credentials?) async throws -> String {
        var url = start
        var offset: Int64 = 0
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RegistryError("open \(file): \(SysError("open"))") }
        defer { close(fd) }
        while offset < size {
            let n = Int(min(uploadChunkSize, size - offset))
            var chunk = ByteBuffer()
            chunk.reserveCapacity(n)
            let got = chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { p in Swift.max(0, pread(fd, p.baseAddress, n, off_t(offset))) }
            guard got == n else { throw RegistryError("short read of \(file)") }
            let r = try await send(
                .PATCH, url, domain: domain, scope: scope, credentials: credentials,
                headers: [("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + Int64(n) - 1)")],
                body: .bytes(chunk))
            _ = try? await r.body.collect(upTo: 1 << 20)
            guard r.status == 202, let loc = r.headers.first(name: "Location") else {
                throw RegistryError("uploading chunk at \(offset): status \(r.status)", status: r.status)
            }
            url = resolve(loc, against: url)
            offset += Int64(n)
        }
        return url
    }

    public func putManifest(_ ref: Reference, tag: String, bytes: [UInt8], mediaType: String, credentials: Credentials?) async throws {
        let url = baseURL(ref.domain) + "/v2/\(ref.path)/manifests/\(tag)"
        let r = try await send(
            .PUT, url, domain: ref.domain, scope: "repository:\(ref.path):pull,push", credentials: credentials,
            headers: [("Content-Type", mediaType)], body: .bytes(ByteBuffer(bytes: bytes)))
        let body = try? await r.body.collect(upTo: 1 << 20)
        guard r.status == 201 || r.status == 200 else {
            throw RegistryError("pushing manifest: status \(r.status) \(body.map { String(buffer: $0) } ?? "")", status: r.status)
        }
    }

    /// A repository's tags from `/v2/<name>/tags/list` (following `Link` pages, bounded).
    public func tags(_ ref: Reference, credentials: Credentials?) async throws -> [String] {
        var tags: [String] = []
        var url = baseURL(ref.domain) + "/v2/\(ref.path)/tags/list?n=1000"
        for _ in 0..<20 {
            let r = try await send(.GET, url, domain: ref.domain, scope: "repository:\(ref.path):pull", credentials: credentials)
            let body = Array(buffer: try await r.body.collect(upTo: 16 << 20))
            guard r.status == 200, let j = try? JSON.parse(body) else {
                throw RegistryError("listing tags of \(ref.repository): status \(r.status)", status: r.status)
            }
            tags += j["tags"].stringArray ?? []
            guard let link = r.headers.first(name: "Link"), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">") else { break }
            url = resolve(String(link[link.index(after: open)..<close]), against: baseURL(ref.domain))
        }
        return tags
    }

    /// Repository names from `/v2/_catalog` (following `Link` pages, bounded).
    public func catalog(domain: String, credentials: Credentials?) async throws -> [String] {
        var names: [String] = []
        var url = baseURL(domain) + "/v2/_catalog?n=1000"
        for _ in 0..<20 {
            let r = try await send(.GET, url, domain: domain, scope: "registry:catalog:*", credentials: credentials)
            let body = Array(buffer: try await r.body.collect(upTo: 16 << 20))
            guard r.status == 200, let list = (try? JSON.parse(body))?["repositories"].stringArray else {
                throw RegistryError("catalog answered \(r.status)", status: r.status)
            }
            names += list
            guard let link = r.headers.first(name: "Link"), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">") else { break }
            url = resolve(String(link[link.index(after: open)..<close]), against: baseURL(domain))
        }
        return names
    }

    /// `docker login`: the registry's `/v2/` answers 200 with these credentials.
    public func checkLogin(domain: String, credentials: Credentials) async throws {
        let r = try await send(.GET, baseURL(domain) + "/v2/", domain: domain, scope: "registry:catalog:*", credentials: credentials)
        _ = try? await r.body.collect(upTo: 1 << 20)
        if r.status == 401 { throw RegistryError("login attempt to \(baseURL(domain))/v2/ failed with status: 401 Unauthorized", status: 401) }
        guard r.status == 200 else { throw RegistryError("login attempt to \(baseURL(domain))/v2/ failed with status: \(r.status)", status: r.status) }
    }
}

/// Per-host HTTP clients (custom TLS) and which insecure hosts speak plain HTTP.
final class HostClients: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [String: HTTPClient] = [:]
    private var plain: Set<String> = []
    func get(_ host: String) -> HTTPClient? { lock.lock(); defer { lock.unlock() }; return clients[host] }
    func set(_ host: String, _ c: HTTPClient) -> HTTPClient {
        lock.lock(); defer { lock.unlock() }
        if let existing = clients[host] { try? c.syncShutdown(); return existing }
        clients[host] = c
        return c
    }
    private var tls: Set<String> = []

    /// Whether an insecure registry answers plain HTTP: one raw request, cached. A TLS server
    /// answers it with an error or closes; an HTTP one with a status line.
    func speaksPlainHTTP(_ host: String) -> Bool {
        lock.lock()
        if plain.contains(host) { lock.unlock(); return true }
        if tls.contains(host) { lock.unlock(); return false }
        lock.unlock()
        let answer = HostClients.probe(host)
        lock.lock()
        if answer { plain.insert(host) } else { tls.insert(host) }
        lock.unlock()
        return answer
    }

    static func probe(_ hostPort: String) -> Bool {
        let parts = hostPort.split(separator: ":")
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(String(parts.first ?? ""), parts.count > 1 ? String(parts[1]) : "80", &hints, &res) == 0, let ai = res else { return true }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else { return true }
        let req = Array("GET /v2/ HTTP/1.0\r\nHost: \(hostPort)\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 512, 0) }
        guard n > 0 else { return false }
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        return text.hasPrefix("HTTP/") && !text.contains("HTTP request to an HTTPS server")
    }
}

/// Mirrors that refuse connections are skipped for a minute: the HTTP client would otherwise
/// retry each request until its connect timeout before we could fall back.
actor DeadEndpoints {
    private var downUntil: [String: Date] = [:]

    func isUsable(_ base: String) async -> Bool {
        if let until = downUntil[base], until > Date() { return false }
        let ok = DeadEndpoints.canConnect(base)
        if !ok { downUntil[base] = Date().addingTimeInterval(60) }
        return ok
    }

    /// A TCP connect with a 2-second limit.
    static func canConnect(_ base: String) -> Bool {
        guard let schemeEnd = base.firstRange(of: "://") else { return false }
        let hostPort = base[schemeEnd.upperBound...].prefix { $0 != "/" }
        let parts = hostPort.split(separator: ":")
        let host = String(parts.first ?? "")
        let port = parts.count > 1 ? String(parts[1]) : (base.hasPrefix("https") ? "443" : "80")
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &res) == 0, let ai = res else { return false }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, 2000) == 1 else { return false }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0
    }
}

actor TokenCache {
    private var headers: [String: String] = [:]
    func header(domain: String, scope: String) -> String? { headers[domain + " " + scope] }
    func store(_ h: String, domain: String, scope: String) { headers[domain + " " + scope] = h }
}

extension RegistryClient {
    /// A refused connection fails the request at once, as dockerd's does: AsyncHTTPClient retried
    /// it until the 15 s connect timeout (`docker login` to a registry that is down took 15 s,
    /// and each dead mirror held a pull as long before the next was tried).
    static let retryConnecting = false
}
