import Archive
import Glibc
import Sys

/// `POST /build?remote=…`: a build context that is not in the request body, as dockerd fetches
/// it. A git repository (`git://…`, `git@…`, `github.com/…`, or an http(s) URL ending in `.git`,
/// with `#ref:subdir`) is cloned; any other http(s) URL is downloaded and is the context when it
/// is an archive, else the Dockerfile of an otherwise empty context.
public enum RemoteContext {
    public enum Kind: Equatable { case git, url, none }

    public static func kind(_ remote: String) -> Kind {
        let isURL = remote.hasPrefix("http://") || remote.hasPrefix("https://")
        if remote.hasPrefix("git://") || remote.hasPrefix("git@") || remote.hasPrefix("github.com/") { return .git }
        if isURL {
            let path = remote.split(separator: "#", maxSplits: 1).first.map(String.init) ?? remote
            return path.hasSuffix(".git") ? .git : .url
        }
        return .none
    }

    /// Fetches the context into `tarFile`; returns the Dockerfile name to use instead of the
    /// requested one when the URL was the Dockerfile itself.
    public static func fetch(_ remote: String, into tarFile: String, scratch: String) async throws(EngineError) -> String? {
        switch kind(remote) {
        case .none:
            throw .badRequest("remote context \(remote) is neither a git repository nor an http(s) URL")
        case .url:
            try await Engine.download(remote, to: tarFile, limit: 4 << 30)
            if BuildRun.isArchive(tarFile) { return nil }
            let text: [UInt8]
            do { text = try FS.read(tarFile) } catch { throw .wrapping(error) }
            try writeTar(tarFile) { w in try w.addFile("Dockerfile", text) }
            return "Dockerfile"
        case .git:
            var url = remote, ref = "", subdir = ""
            if let hash = remote.firstIndex(of: "#") {
                url = String(remote[..<hash])
                let frag = remote[remote.index(after: hash)...].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                ref = String(frag.first ?? "")
                subdir = frag.count > 1 ? String(frag[1]) : ""
            }
            if url.hasPrefix("github.com/") { url = "https://" + url }
            guard !url.hasPrefix("-"), !ref.hasPrefix("-") else { throw .badRequest("invalid git URL \(remote)") }
            let dir = scratch + "/git"
            // No ext:: or file-protocol tricks from a URL a client chose, no hooks, no prompts.
            let git = ["git", "-c", "protocol.ext.allow=never", "-c", "protocol.file.allow=user", "-c", "core.hooksPath=/dev/null"]
            var clone = git + ["clone", "--quiet", "--recurse-submodules", "--depth", "1"]
            if !ref.isEmpty { clone += ["--branch", ref] }
            let env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GIT_TERMINAL_PROMPT=0", "HOME=" + scratch]
            var out = try run(clone + ["--", url, dir], env: env)
            if out.status != 0 && !ref.isEmpty {
                // A commit rather than a branch or tag: a full clone, then check it out.
                FS.removeAll(dir)
                out = try run(git + ["clone", "--quiet", "--recurse-submodules", "--", url, dir], env: env)
                if out.status == 0 { out = try run(git + ["-C", dir, "checkout", "--quiet", ref], env: env) }
            }
            guard out.status == 0 else {
                throw .badRequest("error fetching \(remote): \(out.stderrText.trimmingSpaces())")
            }
            FS.removeAll(dir + "/.git")
            // The repository's own links are followed inside the clone only (openat2 in-root).
            let top: Int32
            do { top = try DirFD.openDirectory(dir, flags: DirFD.pathOnly) } catch { throw .internalError("\(error)") }
            defer { close(top) }
            let root = DirFD.open(top, subdir, O_RDONLY | O_DIRECTORY, .container)
            guard root >= 0 else { throw .badRequest("subdirectory \(subdir) not found in \(url)") }
            defer { close(root) }
            let fd = open(tarFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .internalError("\(SysError("open \(tarFile)"))") }
            defer { close(fd) }
            do { try TreeTar(rootFD: root, layer: false) { try FS.writeAll(fd: fd, $0) }.write() } catch { throw .wrapping(error) }
            return nil
        }
    }

    static func run(_ argv: [String], env: [String]) throws(EngineError) -> Proc.Output {
        do { return try Proc.run(argv, env: env) } catch { throw .internalError("\(error)") }
    }

    static func writeTar(_ path: String, _ body: (TarWriter) throws -> Void) throws(EngineError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .internalError("\(SysError("open \(path)"))") }
        defer { close(fd) }
        do {
            let w = TarWriter { try FS.writeAll(fd: fd, $0) }
            try body(w)
            try w.finish()
        } catch { throw .wrapping(error) }
    }
}
