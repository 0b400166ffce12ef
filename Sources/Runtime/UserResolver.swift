import Sys

/// Resolves Docker's `-u user[:group]` against the container's own /etc/passwd and /etc/group,
/// as dockerd does (runc only takes numbers).
public struct ResolvedUser: Sendable, Equatable {
    public var uid: Int
    public var gid: Int
    public var additionalGids: [Int]
    public var home: String
    public init(uid: Int, gid: Int, additionalGids: [Int], home: String) {
        self.uid = uid; self.gid = gid; self.additionalGids = additionalGids; self.home = home
    }
    public static let root = ResolvedUser(uid: 0, gid: 0, additionalGids: [0], home: "/root")
}

public enum UserResolver {
    public struct NotFound: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func resolve(_ spec: String, passwd: String, group: String) throws(NotFound) -> ResolvedUser {
        let users = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }.filter { $0.count >= 7 }
        let groups = group.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }.filter { $0.count >= 4 }
        let parts = spec.isEmpty ? ["root"] : spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0].isEmpty ? "root" : parts[0]
        var uid: Int, gid: Int, name: String?, home = "/"
        if let u = users.first(where: { $0[0] == userPart }) ?? users.first(where: { Int(userPart) != nil && $0[2] == userPart }) {
            uid = Int(u[2]) ?? 0; gid = Int(u[3]) ?? 0; name = u[0]; home = u[5]
        } else if let n = Int(userPart) {
            uid = n; gid = 0
        } else if userPart == "root" {
            // No passwd file (an imported root filesystem): root is 0:0, as dockerd runs it.
            uid = 0; gid = 0; name = "root"  // HOME stays "/" as runc's default user has it
        } else {
            throw NotFound(message: "unable to find user \(userPart): no matching entries in passwd file")
        }
        if parts.count == 2 && !parts[1].isEmpty {
            if let g = groups.first(where: { $0[0] == parts[1] }) {
                gid = Int(g[2]) ?? 0
            } else if let n = Int(parts[1]) {
                gid = n
            } else if parts[1] == "root" {
                gid = 0
            } else {
                throw NotFound(message: "unable to find group \(parts[1]): no matching entries in group file")
            }
        }
        // Ids come from a file the image controls: out-of-range ones are refused, not trapped on.
        guard (0...Int(Int32.max)).contains(uid), (0...Int(Int32.max)).contains(gid) else {
            throw NotFound(message: "unable to find user \(userPart): invalid uid or gid in passwd file")
        }
        var extra = [gid]
        if let name, parts.count == 1 {
            for g in groups where g[3].split(separator: ",").contains(Substring(name)) {
                if let n = Int(g[2]), (0...Int(Int32.max)).contains(n), !extra.contains(n) { extra.append(n) }
            }
        }
        return ResolvedUser(uid: uid, gid: gid, additionalGids: extra, home: home)
    }

    /// runc's rule, which Docker's containers have always had: HOME from the user's passwd entry
    /// ("/" without one) when the environment leaves it unset or empty; an empty one is replaced
    /// where it stands, as Go's Setenv does.
    public static func withHome(_ env: [String], home: String) -> [String] {
        var out = env
        if let i = out.firstIndex(of: "HOME=") {
            out[i] = "HOME=" + home
        } else if !out.contains(where: { $0.hasPrefix("HOME=") }) {
            out.append("HOME=" + home)
        }
        return out
    }

    /// `--group-add`: numbers as they are, names looked up in the container's /etc/group.
    public static func additionalGroups(_ specs: [String], group: String) throws(NotFound) -> [Int] {
        let groups = group.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }.filter { $0.count >= 4 }
        var out: [Int] = []
        for spec in specs {
            if let n = Int(spec), (0...Int(Int32.max)).contains(n) {
                out.append(n)
            } else if let g = groups.first(where: { $0[0] == spec }), let n = Int(g[2]), (0...Int(Int32.max)).contains(n) {
                out.append(n)
            } else {
                throw NotFound(message: "Unable to find group \(spec): no matching entries in group file")
            }
        }
        return out
    }
}
