import Archive
import Builder
import Client
import Glibc
import JSON
import Sys

extension Berth {
    /// `build [OPTIONS] PATH | -`: the context as a tar (`.dockerignore` applied, as the docker
    /// CLI does), sent to `POST /build`; the step output printed as it comes.
    static func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return MountPathClean.clean(p) }
        var buf = [CChar](repeating: 0, count: 4096)
        let cwd = getcwd(&buf, 4096) != nil ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/"
        return MountPathClean.clean(cwd + "/" + p)
    }

    func build(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-t", "--tag", value: true), FlagSpec("-f", "--file", value: true),
                FlagSpec("--build-arg", value: true), FlagSpec("--target", value: true), FlagSpec("--no-cache"),
                FlagSpec("--pull"), FlagSpec("--label", value: true), FlagSpec("--network", value: true),
                FlagSpec("-q", "--quiet"), FlagSpec("--iidfile", value: true), FlagSpec("--rm"),
                FlagSpec("--force-rm"), FlagSpec("--cache-from", value: true), FlagSpec("--platform", value: true),
                FlagSpec("--progress", value: true), FlagSpec("--secret", value: true), FlagSpec("--ssh", value: true),
            ])
        var style: BuildKitStyleProgress? = nil
        switch f.string("progress") ?? "" {
        case "": break
        case "plain": style = BuildKitStyleProgress(tty: false)
        case "tty":
            guard isatty(2) != 0 else { throw CLIError("failed to get console: provided file is not a console") }
            style = BuildKitStyleProgress(tty: true)
        case "auto": style = BuildKitStyleProgress(tty: isatty(2) != 0)
        case "quiet": break
        case let other: throw CLIError("invalid progress mode \"\(other)\": plain, tty, auto or quiet")
        }
        let quiet = f.bool("quiet") || f.string("progress") == "quiet"
        // Secrets and ssh agents travel over a BuildKit session (SessionBuildCommand.swift).
        if !f.list("secret").isEmpty || !f.list("ssh").isEmpty { return try sessionBuild(f, style: style, quiet: quiet) }
        guard f.positionals.count == 1 else { throw CLIError("\"build\" requires exactly 1 argument.") }
        let contextArg = f.positionals[0]
        var dockerfile = f.string("file") ?? ""
        let tmp = "/tmp/berth-build-\(getpid()).tar"
        defer { unlink(tmp) }
        let out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw CLIError("creating the context archive: \(SysError("open"))") }
        var sendFile = tmp
        if contextArg == "-" {
            // A tar (or a Dockerfile alone) on stdin.
            close(out)
            let input = (try? FS.readAll(fd: 0)) ?? []
            if input.count >= 262 && String(decoding: input[257..<262], as: UTF8.self) == "ustar" || input.first == 0x1F {
                try FS.writeAtomic(tmp, input, mode: 0o600)
            } else {
                var bytes: [UInt8] = []
                let w = TarWriter { bytes += $0 }
                try w.addFile("Dockerfile", input)
                try w.finish()
                try FS.writeAtomic(tmp, bytes, mode: 0o600)
                dockerfile = "Dockerfile"
            }
            sendFile = tmp
        } else {
            guard FS.isDirectory(contextArg) else { throw CLIError("unable to prepare context: path \"\(contextArg)\" not found") }
            let ignore = DockerIgnore((try? FS.readString(contextArg + "/.dockerignore")) ?? "")
            var dfBytes: [UInt8]? = nil
            if dockerfile == "-" {
                dfBytes = (try? FS.readAll(fd: 0)) ?? []
                dockerfile = ".dockerfile.\(getpid())"
            } else if !dockerfile.isEmpty {
                // `-f` is a path as given (relative to the working directory, as with the docker
                // CLI); inside the context it is named relative to it, outside it travels in the
                // archive under a private name.
                let ctxAbs = Berth.absolute(contextArg), dfAbs = Berth.absolute(dockerfile)
                if dfAbs.hasPrefix(ctxAbs + "/") {
                    dockerfile = String(dfAbs.dropFirst(ctxAbs.count + 1))
                } else {
                    guard let b = try? FS.read(dockerfile) else {
                        throw CLIError("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat \(dfAbs): no such file or directory")
                    }
                    dfBytes = b
                    dockerfile = ".dockerfile.\(getpid())"
                }
            }
            do {
                let tree = TreeTar(root: contextArg, layer: false) { try FS.writeAll(fd: out, $0) }
                tree.descendExcluded = ignore.hasExclusions
                tree.exclude = { rel in
                    // The Dockerfile and .dockerignore always go, as with the docker CLI.
                    if rel == ".dockerignore" || rel == (dockerfile.isEmpty ? "Dockerfile" : dockerfile) { return false }
                    return ignore.excludes(rel)
                }
                if let dfBytes { tree.extra = [(dockerfile, dfBytes)] }
                try tree.write()
            } catch { close(out); throw CLIError("unable to prepare context: \(error)") }
            close(out)
        }
        var q: [(String, String)] = []
        for t in f.list("tag") { q.append(("t", t)) }
        if !dockerfile.isEmpty { q.append(("dockerfile", dockerfile)) }
        if let t = f.string("target") { q.append(("target", t)) }
        if f.bool("no-cache") { q.append(("nocache", "1")) }
        if f.bool("pull") { q.append(("pull", "1")) }
        if quiet || style != nil { q.append(("q", style == nil ? "1" : "0")) }
        if f.bool("force-rm") { q.append(("forcerm", "1")) }
        if let rm = f.string("rm"), rm == "false" { q.append(("rm", "0")) }
        if let n = f.string("network") { q.append(("networkmode", n)) }
        if let p = f.platform() { q.append(("platform", p)) }  // it was dropped
        var buildArgs = JSONObject()
        for a in f.list("build-arg") {
            let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if kv.count == 2 { buildArgs[kv[0]] = .string(kv[1]) } else if let v = Proc.getenv(kv[0]) { buildArgs[kv[0]] = .string(v) }
        }
        if !buildArgs.isEmpty { q.append(("buildargs", JSON.object(buildArgs).serialized())) }
        if !f.list("label").isEmpty { q.append(("labels", Berth.keyValues(f.list("label")).serialized())) }
        if !f.list("cache-from").isEmpty { q.append(("cachefrom", JSON.strings(f.list("cache-from")).serialized())) }
        let fd = open(sendFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("reading the context archive: \(SysError("open"))") }
        defer { close(fd) }
        var split = JSONStreamSplitter()
        var imageID = ""
        var failure: CLIError? = nil
        try client.stream("POST", "/build" + DaemonClient.query(q), bodyFile: fd, contentType: "application/x-tar") { bytes in
            for m in split.feed(bytes) {
                if style != nil {
                    style?.feed(m)
                } else if !quiet, let s = m["stream"].string {
                    Out.raw(1, Array(s.utf8))
                }
                if let st = m["status"].string { Out.print(st) }
                if let id = m["aux"]["ID"].string { imageID = id }
                // A quiet build on an older dockerd (20.10) names its image in a stream line only.
                if quiet, imageID.isEmpty, let s = m["stream"].string?.trimmingSpaces(), s.hasPrefix("sha256:") { imageID = s }
                if let e = m["error"].string {
                    failure = CLIError(e, code: Int32(m["errorDetail"]["code"].int ?? 1))
                    return false
                }
            }
            return true
        }
        style?.finish(error: failure?.description)
        if let failure { throw failure }
        if quiet { Out.print(imageID) }
        if let path = f.string("iidfile") { try FS.writeAtomic(path, imageID) }
        return 0
    }
}

enum MountPathClean {
    static func clean(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }
}
