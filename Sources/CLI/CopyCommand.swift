import Archive
import Client
import Glibc
import JSON
import Sys

extension Berth {
    /// `cp SRC DEST`, one side `CONTAINER:PATH`; `-` streams a tar through stdin/stdout.
    func cp(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-a", "--archive"), FlagSpec("-L", "--follow-link"), FlagSpec("-q", "--quiet")])
        guard f.positionals.count == 2 else { throw CLIError("\"cp\" requires exactly 2 arguments.") }
        let (src, dst) = (f.positionals[0], f.positionals[1])
        switch (Berth.containerPath(src), Berth.containerPath(dst)) {
        case (.some(let s), nil): return try copyOut(container: s.0, path: s.1, to: dst, followLink: f.bool("follow-link"))
        case (nil, .some(let d)): return try copyIn(from: src, container: d.0, path: d.1, archive: f.bool("archive"))
        case (.some, .some): throw CLIError("copying between containers is not supported")
        default: throw CLIError("must specify at least one container source")
        }
    }

    /// `name:path` (the name has no `/`, and the argument does not start with `/` or `.`).
    static func containerPath(_ arg: String) -> (String, String)? {
        if arg.hasPrefix("/") || arg.hasPrefix(".") { return nil }
        guard let colon = arg.firstIndex(of: ":") else { return nil }
        let name = String(arg[..<colon])
        guard !name.isEmpty, !name.contains("/") else { return nil }
        let p = String(arg[arg.index(after: colon)...])
        return (name, p.isEmpty ? "/" : p)
    }

    /// Out of a container, as the docker CLI: files belong to whoever runs the command (it does
    /// not chown); `-L` copies what a final symlink points to, under the link's name.
    func copyOut(container: String, path: String, to dest: String, followLink: Bool) throws -> Int32 {
        var source = path
        if followLink, let stat = try? client.request("HEAD", "/containers/\(container)/archive" + DaemonClient.query([("path", path)])),
            let header = stat.header("X-Docker-Container-Path-Stat"), let json = Base64.decode(header).flatMap({ try? JSON.parse($0) }),
            let target = json["linkTarget"].string, !target.isEmpty
        {
            let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : ""
            source = target.hasPrefix("/") ? target : dir + "/" + target
        }
        let q = DaemonClient.query([("path", source)])
        if dest == "-" {
            try client.stream("GET", "/containers/\(container)/archive" + q) { b in (try? FS.writeAll(fd: 1, b)) != nil }
            return 0
        }
        let r = try client.request("GET", "/containers/\(container)/archive" + q)
        let tmpTar = "/tmp/berth-cp-\(getpid()).tar"
        try FS.writeAtomic(tmpTar, r.body, mode: 0o600)
        defer { unlink(tmpTar) }
        let name = source.split(separator: "/").last.map(String.init) ?? ""
        if FS.isDirectory(dest) && source == path {
            try LayerUnpacker(root: dest, trusted: true, ownership: .caller).unpack(tarPath: tmpTar)
            return 0
        }
        // A new name (or -L's target under the link's name): unpack beside it, then rename into place.
        let final = FS.isDirectory(dest) ? dest + "/" + (path.split(separator: "/").last.map(String.init) ?? name) : dest
        let parent = final.contains("/") ? String(final[..<final.lastIndex(of: "/")!]) : "."
        let work = (parent.isEmpty ? "/" : parent) + "/.berth-cp-\(getpid())"
        try FS.mkdirAll(work)
        defer { FS.removeAll(work) }
        try LayerUnpacker(root: work, trusted: true, ownership: .caller).unpack(tarPath: tmpTar)
        let entries = try FS.list(work)
        guard let first = entries.first(where: { $0 == name }) ?? entries.first else { throw CLIError("nothing to copy") }
        FS.removeAll(final)
        guard Glibc.rename(work + "/" + first, final) == 0 else { throw CLIError("\(SysError("rename to \(final)"))") }
        return 0
    }

    /// Into a container: ownership as on the host, or with `-a` the container user's (dockerd
    /// applies it: `copyUIDGID`).
    func copyIn(from src: String, container: String, path: String, archive: Bool) throws -> Int32 {
        let extra: [(String, String)] = archive ? [("copyUIDGID", "true")] : []
        if src == "-" {
            _ = try client.request(
                "PUT", "/containers/\(container)/archive" + DaemonClient.query([("path", path)] + extra), bodyFile: 0,
                contentType: "application/x-tar")
            return 0
        }
        var st = stat()
        guard lstat(src, &st) == 0 else { throw CLIError("lstat \(src): no such file or directory") }
        let trimmed = src.count > 1 && src.hasSuffix("/") ? String(src.dropLast()) : src
        let srcName = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
        let srcParent = trimmed.contains("/") ? String(trimmed[..<trimmed.lastIndex(of: "/")!]) : "."
        // Into an existing directory under the same name, or to a new path under its name.
        let destIsDir = (try? client.request("HEAD", "/containers/\(container)/archive" + DaemonClient.query([("path", path)])))
            .flatMap { $0.header("X-Docker-Container-Path-Stat") }
            .flatMap { Base64.decode($0) }.flatMap { try? JSON.parse($0) }
            .map { (($0["mode"].int ?? 0) & (1 << 31)) != 0 }
        var target = path, newName: String? = nil
        if destIsDir != true {
            if destIsDir == false && (st.st_mode & S_IFMT) == S_IFDIR { throw CLIError("cannot copy a directory onto a file: \(path)") }
            let p = path.hasSuffix("/") ? String(path.dropLast()) : path
            target = p.contains("/") ? String(p[..<p.lastIndex(of: "/")!]) : "/"
            if target.isEmpty { target = "/" }
            newName = String(p.split(separator: "/").last ?? "")
        }
        var tarBytes: [UInt8] = []
        try TreeTar(root: srcParent.isEmpty ? "/" : srcParent, layer: false) { tarBytes += $0 }.write(only: srcName, as: newName)
        _ = try client.request(
            "PUT", "/containers/\(container)/archive" + DaemonClient.query([("path", target)] + extra), body: tarBytes,
            contentType: "application/x-tar")
        return 0
    }
}
