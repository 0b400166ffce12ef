import JSON

/// Media types Berth reads and writes.
public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
}

/// An image configuration (OCI image-spec / Docker image v1 JSON). The bytes are the identity:
/// the image ID is the digest of exactly these bytes, so we keep them and read fields from them.
public struct ImageConfig: Sendable {
    public let raw: [UInt8]
    public let json: JSON

    public init(raw: [UInt8]) throws(JSONParseError) {
        self.raw = raw
        self.json = try JSON.parse(raw)
    }

    public init(json: JSON) {
        self.json = json
        self.raw = json.bytes
    }

    public var id: Digest { Digest.of(raw) }
    public var diffIDs: [Digest] { (json["rootfs"]["diff_ids"].stringArray ?? []).compactMap { Digest(parsing: $0) } }
    public var created: String { json["created"].string ?? "" }
    public var architecture: String { json["architecture"].string ?? "amd64" }
    public var os: String { json["os"].string ?? "linux" }
    /// The container defaults: Cmd, Entrypoint, Env, WorkingDir, User, Labels, ...
    public var config: JSON { json["config"] }
    public var cmd: [String]? { config["Cmd"].stringArray }
    public var entrypoint: [String]? { config["Entrypoint"].stringArray }
    public var env: [String] { config["Env"].stringArray ?? [] }
    public var workingDir: String { config["WorkingDir"].string ?? "" }
    public var user: String { config["User"].string ?? "" }
    public var labels: [String: String] { config["Labels"].stringMap ?? [:] }
}
