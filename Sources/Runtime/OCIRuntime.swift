/// An OCI runtime berthd can run containers with (`--runtime`, daemon.json `runtimes`): a
/// runc-compatible command line. Each keeps its state under a root of its own in the exec root
/// (runc's under `runc`, as before, so containers started by an earlier berthd stay reachable).
public struct OCIRuntime: Sendable, Equatable {
    public var name: String
    /// The executable (a name looked up in PATH, or a path).
    public var path: String
    /// Extra arguments put before the command (daemon.json's `runtimeArgs`).
    public var args: [String]

    public init(name: String, path: String, args: [String] = []) {
        self.name = name; self.path = path; self.args = args
    }

    public static let stockName = "runc"
    public static let stock = OCIRuntime(name: stockName, path: "runc")

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
