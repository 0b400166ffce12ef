/// An OCI runtime berthd can run containers with (`--runtime`, daemon.json `runtimes`): a
/// runc-compatible command line. Each keeps its state under a root of its own in the exec root
/// (runc's under `runc`, as before, so containers started by an earlier berthd stay reachable).
public struct OCIRuntime: Sendable, Equatable {
    public var name: String
    /// The executable (a name looked up in PATH, or a path).
    public var path: String
    /// Extra arguments put before the command (daemon.json's `runtimeArgs`).
    public var args: [String]
    /// The same binary on a read-only mount, for `create` (its init is a fork of the runtime, so
    /// the container could otherwise reach the host's binary through /proc/<pid>/exe).
    public var sealedPath: String? = nil

    public init(name: String, path: String, args: [String] = [], sealedPath: String? = nil) {
        self.name = name; self.path = path; self.args = args; self.sealedPath = sealedPath
    }

    public static let stockName = "runc"
    public static let stock = OCIRuntime(name: stockName, path: "runc")
    /// Berth's own runtime (issue 15), built next to berthd; the default where it is installed.
    public static let berthName = "berth"
    /// Names daemon.json and --add-runtime may not take.
    public static let reservedNames: Set<String> = [stockName, berthName]

    /// Where the runtime keeps its containers' state.
    public func root(execRoot: String) -> String {
        name == Self.stockName ? execRoot + "/runc" : execRoot + "/runtime-" + name
    }

    /// The start of every command line: the executable, its configured arguments, `--root`.
    public func argv(execRoot: String) -> [String] { [path] + args + ["--root", root(execRoot: execRoot)] }

    /// A runtime name as daemon.json or `--add-runtime` gives it: a path component.
    public static func validName(_ n: String) -> Bool {
        !n.isEmpty && n.utf8.count <= 64 && n != "." && n != ".."
            && n.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }
    }
}
