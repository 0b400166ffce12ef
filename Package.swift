// swift-tools-version:6.0
import PackageDescription

// Foundation-free modules (JSON, Sys, OCI, Client, CLI, berth-shim) keep the CLI and the
// per-container shim quick to start; the daemon side (Store, Engine, API) may use Foundation.
let package = Package(
    name: "Berth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "berthd", targets: ["berthd"]),
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berth-shim", targets: ["berth-shim"]),
        .executable(name: "berth-exec", targets: ["berth-exec"]),
        .executable(name: "berth-buildkit", targets: ["berth-buildkit"]),
        .executable(name: "berth-runtime", targets: ["berth-runtime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // BuildKit's control API on POST /grpc (issue 14): gRPC with code generated once from
        // protos/buildkit (scripts/protogen) and committed.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "CSys"),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive"),
        .systemLibrary(name: "CZlib"),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp"),
        .target(name: "CCrypto", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "JSON"),
        // json-file's `compress`: the shim gzips a rotated log, berthd reads it back.
        .target(name: "GzipFile", dependencies: ["CZlib"]),
        .target(name: "Sys", dependencies: ["CSys"]),
        .target(name: "OCI", dependencies: ["JSON", "CCrypto", "Sys"]),
        .target(name: "Archive", dependencies: ["CArchive", "CZlib", "CSys", "OCI", "Sys"]),
        .target(name: "Store", dependencies: ["OCI", "Archive", "JSON", "Sys", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Seccomp", dependencies: ["CSeccomp", "CSys", "JSON", "Sys"]),
        .target(name: "Runtime", dependencies: ["OCI", "JSON", "Sys", "CSys", "CSeccomp", "Seccomp"]),
        // berth-runtime (issue 15): an OCI runtime with runc's command line. Foundation-free and
        // single-threaded, so its container init can be a fork of it; the C stage holds the
        // calls Swift cannot make (variadic prctl/ioctl, raw syscalls) and the sealed re-exec.
        .target(name: "CRuntime"),
        .target(name: "ContainerRuntime", dependencies: ["CRuntime", "CSys", "JSON", "Sys", "Seccomp"]),
        .target(name: "Registry", dependencies: ["OCI", "JSON", "Sys", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                              .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .target(name: "BerthNet", dependencies: ["JSON", "Sys", "CSys"]),
        .target(name: "Builder", dependencies: ["JSON"]),
        .target(name: "DockerAPI", dependencies: ["JSON"]),
        .target(name: "Engine", dependencies: ["Store", "Runtime", "Registry", "OCI", "Archive", "JSON", "Sys", "BerthNet", "Builder", "GoTemplate", "DockerAPI", "GzipFile",
                                              .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .target(name: "BuildKitAPI", dependencies: [
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "BuildKit", dependencies: ["BuildKitAPI", "Engine", "Sys", "CSys", "Archive", "JSON", "OCI", "Builder",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "API", dependencies: ["DockerAPI", "BuildKit", "BuildKitAPI",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            "Engine", "JSON", "OCI", "Registry", "Runtime", "Archive",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .target(name: "Client", dependencies: ["JSON", "Sys", "CTLS"]),
        // The client side of a BuildKit session (berth build --secret/--ssh): gRPC served by the
        // berth-buildkit helper, so the CLI itself stays small and quick to start.
        .target(name: "BuildClient", dependencies: ["BuildKitAPI", "Builder", "Client", "JSON", "Sys",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .executableTarget(name: "berth-buildkit", dependencies: ["BuildClient", "Client", "JSON", "Sys"]),
        .target(name: "GoTemplate", dependencies: ["JSON"]),
        .target(name: "CLI", dependencies: ["CSys", "Client", "JSON", "OCI", "Sys", "Archive", "GoTemplate", "Builder"]),
        .target(name: "CRootless"),
        .executableTarget(name: "berthd", dependencies: ["API", "BerthNet", "BuildKit", "Engine", "Runtime", "CRootless"]),
        // The static executables link with lld: gold repeats glibc's link-time notes as warnings
        // (a static binary's dlopen and getaddrinfo load the NSS modules of the glibc it was linked
        // with — true of a binary built where it runs, as scripts/setup does).
        //
        // Every command starts the CLI, so it is fully static: 0.8 ms from exec to exit instead of
        // 3.9 with -static-stdlib alone, where libarchive's and OpenSSL's shared chains (ICU,
        // libxml2, …) and the PIE's relocations cost the rest. Only the tar reader and the
        // decompressors are pulled from libarchive.a, hence its link list here.
        .executableTarget(name: "berth", dependencies: ["CLI"],
                          linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld", "-lnettle", "-lacl", "-llzma", "-lzstd", "-llz4", "-lbz2", "-lz",
                                                         "-lssl", "-lcrypto"])]),
        .executableTarget(name: "berth-shim", dependencies: ["Sys", "CSys", "ContainerRuntime", "CRuntime", "GzipFile"],
                          // Started for every container: fully static, it starts in ~1 ms instead of ~3.5.
                          linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld"])]),
        // Started for every container operation: fully static (libseccomp's archive included).
        .executableTarget(name: "berth-runtime", dependencies: ["ContainerRuntime", "CRuntime", "Sys"],
                          linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld"])]),
        // exec's helper: plain C, started for every exec (see its main.c for why). swiftc links the
        // Swift runtime into any executable; fully static, the dynamic loader's relocations go too.
        .executableTarget(name: "berth-exec", linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld"])]),
        .testTarget(name: "BerthTests", dependencies: ["CSys", "BuildKit", "BuildKitAPI", "DockerAPI", "JSON", "OCI", "Archive", "Store", "Runtime", "Engine", "CLI", "Client", "BuildClient", "Sys", "GoTemplate", "BerthNet", "Builder", "Registry", "Seccomp", "ContainerRuntime", "GzipFile"]),
    ]
)
