import Archive
import AsyncHTTPClient
import Builder
import Foundation
import JSON
import OCI
import Runtime
import Store
import Sys

/// RUN, COPY and ADD: the steps that make a layer.
extension BuildRun {
    /// Steps need an image to run on; `FROM scratch` gets an empty one the first time.
    func ensureImage(_ st: inout StageState) async throws(EngineError) -> Digest {
        if let i = st.image { return i }
        let id = try await engine.registerStep(st.doc, base: nil, createdBy: "", emptyLayer: true)
        try await adopt(id, &st)
        return id
    }

    mutating func run(_ ins: Instruction, _ st: inout StageState) async throws(EngineError) {
        let cmd: [String]
        if let h = ins.heredocs.first { cmd = st.shell + [h.content] } else if ins.json { cmd = ins.args } else { cmd = st.shell + [ins.args.first ?? ""] }
        // Build args reach RUN as environment (not kept in the image), and key its cache.
        let env = st.env
        let argEnv = st.args.keys.sorted().filter { env[$0] == nil }.map { "\($0)=\(st.args[$0]!)" }
        let createdBy = (argEnv.isEmpty ? "" : "|\(argEnv.count) " + argEnv.joined(separator: " ") + " ") + cmd.joined(separator: " ")
        let options = try runOptions(ins)
        // Mounts and network key the cache too (a secret's content does not, as in BuildKit);
        // a bind keys it by what it shows: the context files' contents, another stage's image.
        var bindKey = ""
        for m in options.mounts where m.kind == .bind {
            if m.from.isEmpty {
                let h = SHA256()
                for src in try contextSources(m.source.isEmpty ? "." : m.source) {
                    do { try hashContext(src.contextPath ?? "", src.rel, h) } catch { throw .internalError("hashing the context: \(error)") }
                }
                bindKey += "bind:\(h.finalize().hex) "
            } else {
                bindKey += "bind-from:\(try await fromImage(m.from).hex) "
            }
        }
        let keyText = "RUN " + options.keyText + bindKey + createdBy
        if let hit = cached(st.image, keyText) { return await use(hit, &st) }
        if options.mounts.isEmpty, try await reuseCacheSource(&st, parent: st.image, createdBy: createdBy, cacheText: keyText) { return }
        // The same step of a shared stage in builds running at once (Compose builds services
        // in parallel) runs once: the others wait and take its result from the cache, so the
        // stages after it share their parents and cache keys.
        let stepKey = cacheKey(st.image, keyText)
        if !noCache {
            while await !engine.claimBuildStep(stepKey) {
                if let hit = cached(st.image, keyText) { return await use(hit, &st) }
            }
        }
        var prepared = PreparedMounts()
        do {
            prepared = try await prepareMounts(options.mounts, for: ins.original)
            try await runClaimed(ins, &st, cmd: cmd, argEnv: argEnv, createdBy: createdBy, keyText: keyText, options: options, prepared: prepared)
        } catch {
            await prepared.release(engine)
            if !noCache { await engine.releaseBuildStep(stepKey) }
            throw error
        }
        await prepared.release(engine)
        if !noCache { await engine.releaseBuildStep(stepKey) }
    }

    /// What `--from` (COPY, a RUN bind) names: an earlier stage, a local image, or one pulled.
    func fromImage(_ from: String) async throws(EngineError) -> Digest {
        if let s = stageImages[from.lowercased()] { return s }
        if let i = try? engine.resolveImage(from).id { return i }
        let emit = self.emit
        return try await engine.pull(from, credentials: nil, progress: { await emit($0) })
    }

    /// A RUN's flags: its mounts, its network; anything else is refused in BuildKit's words.
    struct RunOptions {
        var mounts: [RunMount] = []
        var network: String? = nil
        var keyText = ""
    }

    func runOptions(_ ins: Instruction) throws(EngineError) -> RunOptions {
        var o = RunOptions()
        for f in ins.flags {
            let kv = f.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = kv.first ?? "", value = kv.count > 1 ? kv[1] : ""
            switch name {
            case "mount":
                do { o.mounts.append(try RunMount.parse(value)) } catch { throw .badRequest("failed to parse mount: \(error)") }
                if let m = o.mounts.last, m.kind != .bind, !m.from.isEmpty {
                    throw .badRequest("RUN --mount=type=\(m.kind.rawValue),from=… is not supported by Berth's builder yet")
                }
            case "network":
                switch value {
                case "default": o.network = nil
                case "none": o.network = "none"
                case "host": throw .badRequest("network.host is not allowed")
                default: throw .badRequest("unsupported network mode \"\(value)\"")
                }
            case "security":
                guard value == "sandbox" else { throw .badRequest("security.insecure is not allowed") }
            default:
                throw .badRequest("unknown flag: \(name)")
            }
            o.keyText += f + " "
        }
        return o
    }

    /// Host sides of a RUN's mounts: cache directories (kept under the build cache, by id),
    /// secrets written to private files for the step, tmpfs sizes; read-only binds of context
    /// paths resolved inside the context.
    func prepareMounts(_ mounts: [RunMount], for ins: String) async throws(EngineError) -> PreparedMounts {
        var p = PreparedMounts()
        for m in mounts {
            do {
                switch m.kind {
                case .cache:
                    let dir = engine.buildCacheDir + "/mounts/" + Digest.of("cache\n" + m.id).hex
                    if !FS.exists(dir) {
                        try FS.mkdirAll(dir, mode: mode_t(m.mode ?? 0o755))
                        chown(dir, m.uid ?? 0, m.gid ?? 0)
                    }
                    engine.touchCacheMount(dir, target: m.target, command: ins)
                    if m.sharing != "shared" {
                        // locked (and private, which BuildKit would give a fresh copy): one step at a time.
                        while await !engine.claimBuildStep("cache-mount:" + dir) {}
                        p.locks.append("cache-mount:" + dir)
                    }
                    p.binds.append(dir + ":" + m.target + (m.readOnly ? ":ro" : ""))
                case .tmpfs:
                    p.tmpfs[m.target] = m.size > 0 ? "size=\(m.size)" : ""
                case .secret:
                    let bytes = try await request.secrets?(m.id) ?? nil
                    guard let bytes else {
                        if m.required { throw EngineError.badRequest("secret \(m.id): not found") }
                        continue
                    }
                    if !m.env.isEmpty { p.env.append(m.env + "=" + String(decoding: bytes, as: UTF8.self)) }
                    guard !m.target.isEmpty else { continue }
                    let file = engine.store.tempPath("build-secret")
                    let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o400)
                    guard fd >= 0 else { throw SysError("secret file", errno: errno) }
                    defer { close(fd) }
                    try FS.writeAll(fd: fd, bytes)
                    fchmod(fd, mode_t(m.mode ?? 0o400))
                    fchown(fd, m.uid ?? 0, m.gid ?? 0)
                    p.files.append(file)
                    p.binds.append(file + ":" + m.target + ":ro")
                case .bind:
                    let rel = MountParser.clean("/" + m.source)
                    guard rel != "/" || m.source.isEmpty || m.source == "." || m.source == "/" else { throw EngineError.badRequest("invalid source") }
                    var root = context.dir
                    if m.from.isEmpty {
                        // All of it: the source may reach other paths through the context's links.
                        try context.materialize()
                    } else {
                        // Another stage's (or image's) root, mounted for the step through a
                        // container nothing runs in; the path resolved inside that root.
                        let img = try await fromImage(m.from)
                        let cid = try await engine.buildContainer(image: img, config: [:], cmd: ["true"], env: [], network: "none")
                        p.containers.append(cid)
                        root = try await engine.imageRootForCopy(cid)
                    }
                    guard let host = try? SafePath.resolveInRoot(root, rel, followFinal: true), FS.exists(host) else {
                        throw EngineError.badRequest("failed to compute cache key: \"\(rel)\": not found")
                    }
                    p.binds.append(host + ":" + m.target + ":ro")  // rw binds are refused when parsed
                case .ssh:
                    let scratch = engine.store.tempPath("build-ssh")
                    guard let sock = try await request.sshAgent?(m.id, m.uid ?? 0, m.gid ?? 0, m.mode ?? 0o600, scratch) else {
                        if m.required { throw EngineError.badRequest("no SSH key \"\(m.id)\" forwarded from the client") }
                        continue
                    }
                    p.closers.append(sock.close)
                    p.binds.append(sock.path + ":" + m.target)
                    p.env.append("SSH_AUTH_SOCK=" + m.target)
                }
            } catch let e as EngineError {
                await p.release(engine)
                throw e
            } catch {
                await p.release(engine)
                throw .internalError("preparing the mount at \(m.target): \(error)")
            }
        }
        return p
    }

    mutating func runClaimed(
        _ ins: Instruction, _ st: inout StageState, cmd: [String], argEnv: [String], createdBy: String, keyText: String, options: RunOptions,
        prepared: PreparedMounts
    ) async throws(EngineError) {
        let parent = st.image
        let base = try await ensureImage(&st)
        var runEnv = st.doc["config"]["Env"].stringArray ?? []
        if !runEnv.contains(where: { $0.hasPrefix("PATH=") }) { runEnv.insert(BuildRun.defaultPath, at: 0) }
        runEnv += argEnv
        // Docker's predefined proxy args reach RUN without an ARG, and stay out of history and cache.
        for k in BuildRun.proxyArgs where st.args[k] == nil { if let v = request.buildArgs[k] { runEnv.append("\(k)=\(v)") } }
        runEnv += prepared.env
        let cid = try await engine.buildContainer(
            image: base, config: st.doc["config"], cmd: cmd, env: runEnv, network: options.network ?? request.networkMode,
            extraHosts: request.extraHosts, binds: prepared.binds, tmpfs: prepared.tmpfs, resources: request.resources, shmSize: request.shmSize)
        await say(" ---> Running in \(cid.prefix(12))\n")
        let (stream, cont) = AsyncStream<[UInt8]?>.makeStream()
        do {
            try await engine.buildStepOutput(cid) { frame in
                switch frame.kind {
                case .stdout: cont.yield(frame.payload)
                // dockerd's legacy builder colours a step's stderr red in the stream.
                case .stderr: cont.yield(Array("\u{1b}[91m".utf8) + frame.payload + Array("\u{1b}[0m".utf8))
                case .exited: cont.yield(nil)
                default: break
                }
            }
            try await engine.start(cid)
        } catch {
            await engine.finishBuildContainer(cid)
            throw error
        }
        // A build the client cancelled stops its running steps (each stage's, when stages run at
        // once) instead of waiting for them to end.
        let isCancelled = request.isCancelled
        let eng = engine
        let watcher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 100_000_000)
                if isCancelled() {
                    try? await eng.kill(cid, signal: "KILL")
                    return
                }
            }
        }
        for await chunk in stream {
            guard let chunk else { break }
            if !request.quiet { await emit(["stream": .string(String(decoding: chunk, as: UTF8.self))]) }
        }
        let code = (try? await engine.wait(cid, condition: .notRunning)) ?? -1
        watcher.cancel()
        if request.isCancelled() {
            await engine.finishBuildContainer(cid)
            throw .badRequest("build cancelled: the client went away")
        }
        if code != 0 {
            if request.removeIntermediate || request.forceRemove { await engine.finishBuildContainer(cid) }
            let shown = ins.json ? JSON.strings(cmd).serialized() : cmd.joined(separator: " ")
            throw .stepFailed("The command '\(shown)' returned a non-zero code: \(code)", code)
        }
        // What the runtime made for the mounts to land on is not the step's work: out of the layer.
        if !options.mounts.isEmpty { await engine.removeMountStubs(cid, targets: options.mounts.map(\.target).filter { !$0.isEmpty }) }
        let id = try await engine.commitStep(cid, base: base, imageConfig: st.doc, createdBy: createdBy)
        if request.removeIntermediate {
            await say("Removing intermediate container \(cid.prefix(12))\n")
            await engine.finishBuildContainer(cid)
        }
        engine.cacheStore(cacheKey(parent, keyText), id)
        try await adopt(id, &st)
        await say(" ---> \(id.hex.prefix(12))\n")
    }

    /// `ADD <url>`: the body of a successful GET (at most 1 GiB).
    /// `COPY --from`: a path of another image's root (links followed inside it) staged at `out`
    /// — a directory's contents walked on descriptors into a tar and unpacked, a file read from
    /// its descriptor — as `cp -a` would (modes, owners, times), never by a host path string.
    static func stageFromRoot(_ root: String, _ path: String, isDir: Bool, to out: String, scratch: String) throws {
        let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
        defer { close(rootfd) }
        if isDir {
            let dir = DirFD.open(rootfd, path, O_RDONLY | O_DIRECTORY, .container)
            guard dir >= 0 else { throw SysError("open \(path) in the image") }
            defer { close(dir) }
            let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SysError("open \(scratch)") }
            defer { unlink(scratch) }
            do { try TreeTar(rootFD: dir, layer: false) { try FS.writeAll(fd: fd, $0) }.write() } catch {
                close(fd)
                throw error
            }
            close(fd)
            try FS.mkdirAll(out)
            try LayerUnpacker(root: out, trusted: true).unpack(tarPath: scratch)
            return
        }
        let src = DirFD.open(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, .container)
        guard src >= 0 else { throw SysError("open \(path) in the image") }
        defer { close(src) }
        var st = stat()
        guard fstat(src, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw EngineError.badRequest("COPY --from: \(path) is not a regular file or directory")
        }
        let dst = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard dst >= 0 else { throw SysError("create \(out)") }
        defer { close(dst) }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, 1 << 20) }
            if n < 0 { if errno == EINTR { continue }; throw SysError("read \(path) in the image") }
            if n == 0 { break }
            try buf.withUnsafeBytes { try FS.writeAll(fd: dst, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        fchown(dst, st.st_uid, st.st_gid)
        fchmod(dst, st.st_mode & 0o7777)
        var ts = [st.st_atim, st.st_mtim]
        futimens(dst, &ts)
    }

    /// The most an `ADD <url>` may bring (a hostile server could otherwise fill the disk).
    static let maxAddDownload: Int64 = 8 << 30

    static let proxyArgs = [
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    ]

    /// A COPY/ADD source: its host path and the name it is known by.
    struct Source {
        var host: String
        var rel: String
        var isDir: Bool
        var contextPath: String? = nil
        /// COPY --parents: where it lands under the destination.
        var parentsPath: String? = nil
    }

    mutating func copy(_ ins: Instruction, _ st: inout StageState) async throws(EngineError) {
        let isAdd = ins.keyword == "ADD"
        for f in ins.flags {
            let name = String(f.dropFirst(2).prefix { $0 != "=" })
            switch name {
            // --link: the same files land (Berth's layers are not rebased independently of
            // their parent, so there is nothing else for it to change).
            case "from", "chown", "chmod", "link": continue
            // As BuildKit's parser: --parents is COPY's, --checksum ADD's.
            case "parents" where !isAdd, "checksum" where isAdd: continue
            case "exclude", "keep-git-dir":
                throw .badRequest("\(ins.keyword) --\(name) is not supported by Berth's builder yet")
            default: throw .badRequest("unknown flag: \(name)")
            }
        }
        let parents = ins.flags.contains { $0 == "--parents" || $0 == "--parents=true" }
        if ins.flags.contains(where: { $0.hasPrefix("--parents=") && $0 != "--parents=true" && $0 != "--parents=false" }) {
            throw .badRequest("expecting boolean value for flag parents, not: \(ins.flag("parents") ?? "")")
        }
        let checksum = ins.flag("checksum").flatMap { $0.isEmpty ? nil : $0 }
        var args: [String]
        if ins.json {
            args = ins.args
        } else {
            do { args = try st.words("").words(ins.args.first ?? "") } catch { throw .badRequest(error.message) }
        }
        if !ins.heredocs.isEmpty {
            // COPY <<EOF /dest: the heredoc is the file.
            args = args.filter { !$0.hasPrefix("<<") }
        }
        guard args.count >= 2 || (!ins.heredocs.isEmpty && args.count >= 1) else {
            throw .badRequest("\(ins.keyword) requires at least two arguments, but only one was provided. Destination could not be determined.")
        }
        var dest = args.removeLast()
        if let checksum {
            // BuildKit's checks and words (dockerfile2llb): one HTTP(S) source, a valid digest.
            guard args.count == 1 else { throw .badRequest("checksum can't be specified for multiple sources") }
            guard args[0].hasPrefix("http://") || args[0].hasPrefix("https://") else {
                throw .badRequest("checksum requires HTTP(S) or Git sources")
            }
            let parts = checksum.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, ["sha256", "sha384", "sha512"].contains(parts[0]) else {
                throw .badRequest("invalid checksum digest format")
            }
            guard parts[0] == "sha256" else { throw .badRequest("unsupported digest algorithm \(parts[0]) (Berth checks sha256 only)") }
            guard parts[1].count == 64, parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw .badRequest("invalid checksum digest format")
            }
        }
        let workdir = st.doc["config"]["WorkingDir"].string ?? ""
        let destIsDir = dest.hasSuffix("/") || args.count > 1 || dest == "." || dest == ".." || parents
        if !dest.hasPrefix("/") { dest = (workdir.isEmpty ? "/" : workdir) + "/" + dest }
        // Where the sources come from: the context, another stage, or an image.
        var fromRoot = ""
        var fromContainer: String? = nil
        if let from = ins.flag("from") {
            let img = try await fromImage(from)
            let cid = try await engine.buildContainer(image: img, config: [:], cmd: ["true"], env: [], network: "none")
            fromContainer = cid
            fromRoot = try await engine.imageRootForCopy(cid)
        }
        let eng = engine
        defer { if let c = fromContainer { Task { await eng.finishBuildContainer(c) } } }
        let stage = work + "/stage-\(step)"
        FS.removeAll(stage)
        do { try FS.mkdirAll(stage) } catch { throw .wrapping(error) }
        defer { FS.removeAll(stage) }
        let hasher = SHA256()
        var kind = "file"
        // `COPY <<EOF /dest`: each heredoc is a file (named after it when the destination is a directory).
        let heredocFiles: [(name: String, content: String)] = ins.heredocs.map { h in
            (h.name, h.expand ? (try? st.words("").expand(h.content)) ?? h.content : h.content)
        }
        // A heredoc's name becomes a file name in the destination, nothing more: a name with a
        // slash or a dot-dot (`COPY <<"../../x" /dst/`) would write outside the stage.
        for f in heredocFiles where f.name.isEmpty || f.name.contains("/") || f.name == "." || f.name == ".." || f.name.contains("\0") {
            throw .badRequest("invalid heredoc name \"\(f.name)\": a file name in the destination, without '/' or '..'")
        }
        for f in heredocFiles { hasher.update(Array(f.content.utf8)) }
        // Resolve and stage every source.
        var sources: [Source] = []
        for a in args {
            if isAdd, a.hasPrefix("http://") || a.hasPrefix("https://") {
                // Streamed to the stage (capped), never held in memory; hashed from the file.
                let file = stage + "/.url-" + String(sources.count)
                try await Engine.download(a, to: file, limit: BuildRun.maxAddDownload)
                sources.append(Source(host: file, rel: URL(string: a)?.lastPathComponent ?? "download", isDir: false))
                let h = SHA256()
                guard h.update(file: file) != nil else { throw .internalError("hashing \(a): \(SysError("read \(file)"))") }
                let got = h.finalize()
                if let checksum, got.description != checksum {
                    throw .badRequest("digest mismatch for \(a): \(got.description) (expected: \(checksum))")
                }
                hasher.update(Array(got.description.utf8))
                continue
            }
            var matches = fromContainer == nil ? try contextSources(a) : try resolveSources(a, root: fromRoot, useIgnore: false)
            if matches.isEmpty {
                // --parents takes a pattern: one that matches nothing copies nothing (BuildKit's
                // AllowEmptyWildcard); a plain path must exist.
                if parents && (a.contains("*") || a.contains("?") || a.contains("[")) { continue }
                throw .badRequest("COPY failed: file not found in build context or excluded by .dockerignore: stat \(a): file does not exist")
            }
            if parents {
                // Each match keeps its path as written, from the pivot (`dir/./rest`) on, or whole.
                let pivot = a.range(of: "/./").map { BuildContext.clean(String(a[..<$0.lowerBound])).split(separator: "/").count } ?? 0
                for i in matches.indices {
                    matches[i].parentsPath = matches[i].rel.split(separator: "/").dropFirst(pivot).joined(separator: "/")
                }
            }
            sources += matches
        }
        if sources.count > 1 || sources.contains(where: { $0.isDir }) { kind = sources.count > 1 ? "multi" : "dir" }
        for s in sources {
            if let cp = s.contextPath {
                do { try hashContext(cp, s.parentsPath ?? s.rel, hasher) } catch { throw .internalError("hashing the context: \(error)") }
            } else {
                hashTree(s.host, s.parentsPath ?? s.rel, hasher)
            }
        }
        let chown = ins.flag("chown"), chmod = ins.flag("chmod")
        let text =
            "\(ins.keyword) \(chown.map { "--chown=\($0) " } ?? "")\(chmod.map { "--chmod=\($0) " } ?? "")\(ins.flag("from").map { "--from=\($0) " } ?? "")\(parents ? "--parents " : "")\(kind):\(hasher.finalize().hex) in \(dest) "
        if let hit = cached(st.image, text) { return await use(hit, &st) }
        if try await reuseCacheSource(&st, parent: st.image, createdBy: "/bin/sh -c #(nop) " + text, cacheText: text) { return }
        let parent = st.image
        let base = try await ensureImage(&st)
        if sources.contains(where: { $0.contextPath != nil }) {
            do { try context.materialize(sources.compactMap(\.contextPath)) } catch { throw .badRequest("failed to read the build context: \(error)") }
            let ignore = self.ignore
            context.removeExcluded { ignore.excludes($0) }
        }
        let cid = try await engine.buildContainer(image: base, config: st.doc["config"], cmd: ["true"], env: [], network: "none")
        do {
            let root = try await engine.imageRootForCopy(cid)
            // Owner: --chown resolved in the image being built; root otherwise.
            var uid: UInt32 = 0, gid: UInt32 = 0
            if let c = chown {
                let (passwd, group) = try Engine.userFiles(root: root)
                do {
                    let u = try UserResolver.resolve(c, passwd: passwd, group: group)
                    uid = UInt32(u.uid); gid = UInt32(u.gid)
                } catch { throw EngineError.badRequest("unable to convert uid/gid chown string to host mapping: \(error)") }
            }
            let mode: mode_t? = chmod.flatMap { mode_t($0, radix: 8) }
            if chmod != nil && mode == nil { throw EngineError.badRequest("invalid chmod parameter: \(chmod!)") }
            // Stage the result under its final absolute path, then extract it into the root.
            let cleanDest = MountParser.clean(dest)
            let target = stage + "/root" + cleanDest
            try FS.mkdirAll(destIsDir ? target : String(target[..<target.lastIndex(of: "/")!]))
            try copyAncestorsMetadata(
                root: root, stageRoot: stage + "/root", path: destIsDir ? cleanDest : String(cleanDest[..<cleanDest.lastIndex(of: "/")!]),
                newOwner: (uid, gid), shift: await engine.idShift(cid))
            for f in heredocFiles { try FS.writeAtomic(destIsDir ? target + "/" + f.name : target, f.content) }
            for s in sources {
                if isAdd, !s.isDir, !s.rel.hasPrefix("http"), BuildRun.isArchive(s.host) {
                    try FS.mkdirAll(target)
                    try LayerUnpacker(root: target).unpack(tarPath: s.host)
                    continue
                }
                var out = s.isDir ? target : (destIsDir ? target + "/" + (s.rel as NSString).lastPathComponent : target)
                if let kept = s.parentsPath, !kept.isEmpty {
                    out = target + "/" + kept
                    // The kept parents are made as in the source (its modes), owned as the files.
                    var made = target
                    let comps = kept.split(separator: "/"), resolved = (s.contextPath ?? "").split(separator: "/")
                    for (i, c) in comps.dropLast().enumerated() {
                        made += "/" + c
                        guard !FS.exists(made) else { continue }
                        try FS.mkdirAll(made)
                        // A context source's parent at that depth, from the index (never a
                        // lookup through the context's links); 0755 for another image's.
                        if s.contextPath != nil, resolved.count == comps.count,
                            let e = context.entry(resolved.dropLast(comps.count - 1 - i).joined(separator: "/")), e.kind == .directory
                        {
                            Glibc.chmod(made, mode_t(e.mode & 0o7777))
                        }
                        Glibc.chown(made, uid, gid)
                    }
                }
                if fromContainer != nil {
                    // Another image's root: read on descriptors, resolved inside that root.
                    try BuildRun.stageFromRoot(fromRoot, "/" + s.rel, isDir: s.isDir, to: out, scratch: stage + "/.from.tar")
                } else if s.isDir {
                    try FS.mkdirAll(out)
                    try Proc.checked(["cp", "-a", s.host + "/.", out + "/"])
                } else {
                    try Proc.checked(["cp", "-a", s.host, out])
                }
                try Proc.checked(["chown", "-R", "-h", "\(uid):\(gid)", out])
                if let mode {
                    // A directory's contents take the mode; the destination directory made for
                    // them keeps 0755, as with BuildKit (dockerd 20.10, compared in a test).
                    if s.isDir {
                        try Proc.checked(["find", out, "-mindepth", "1", "-exec", "chmod", String(mode, radix: 8), "{}", "+"])
                    } else {
                        try Proc.checked(["chmod", String(mode, radix: 8), out])
                    }
                }
            }
            try extractStage(stage + "/root", into: root, shift: await engine.idShift(cid))
        } catch {
            await engine.finishBuildContainer(cid)
            if let e = error as? EngineError { throw e }
            throw .internalError("\(ins.keyword): \(error)")
        }
        try await finishLayerStep(cid, base: base, parent: parent, cacheText: text, createdBy: "/bin/sh -c #(nop) " + text, layer: true, &st)
    }

    /// Commits (or, without changes, just registers) the step's container, remembers the result
    /// for the cache, and makes it the stage's image.
    func finishLayerStep(
        _ cid: String, base: Digest, parent: Digest?, cacheText: String, createdBy: String, layer: Bool,
        _ st: inout StageState
    ) async throws(EngineError) {
        let id: Digest
        do {
            id =
                layer
                ? try await engine.commitStep(cid, base: base, imageConfig: st.doc, createdBy: createdBy)
                : try await engine.registerStep(st.doc, base: base, createdBy: createdBy, emptyLayer: true)
        } catch {
            await engine.finishBuildContainer(cid)
            throw error
        }
        await engine.finishBuildContainer(cid)
        engine.cacheStore(cacheKey(parent, cacheText), id)
        try await adopt(id, &st)
        await say(" ---> \(id.hex.prefix(12))\n")
    }

    /// Writes the staged tree as a tar and extracts it into the container's root (never through
    /// a symlink there).
    func extractStage(_ stageRoot: String, into root: String, shift: IDShift?) throws {
        let tar = stageRoot + ".tar"
        let fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SysError("open \(tar)") }
        do { try TreeTar(root: stageRoot, layer: false) { try FS.writeAll(fd: fd, $0) }.write() } catch { close(fd); throw error }
        close(fd)
        defer { unlink(tar) }
        var unpacker = LayerUnpacker(root: root, trusted: true)
        unpacker.shift = shift
        try unpacker.unpack(tarPath: tar)
    }

    /// WORKDIR creates its directory, as the legacy builder does: a layer when it was missing,
    /// only the config change when it was there.
    mutating func workdir(_ path: String, _ st: inout StageState, _ cacheText: String) async throws(EngineError) {
        if let hit = cached(st.image, cacheText) { return await use(hit, &st) }
        let createdBy = "/bin/sh -c #(nop)  " + cacheText
        if try await reuseCacheSource(&st, parent: st.image, createdBy: createdBy, cacheText: cacheText) { return }
        let parent = st.image
        let base = try await ensureImage(&st)
        let cid = try await engine.buildContainer(image: base, config: st.doc["config"], cmd: ["true"], env: [], network: "none")
        var made = false
        do {
            let root = try await engine.imageRootForCopy(cid)
            if !Engine.isDirectoryInRoot(root, path) {
                let stage = work + "/workdir-\(step)"
                FS.removeAll(stage)
                try FS.mkdirAll(stage + "/root" + path)
                let shift = await engine.idShift(cid)
                try copyAncestorsMetadata(root: root, stageRoot: stage + "/root", path: path, shift: shift)
                try extractStage(stage + "/root", into: root, shift: shift)
                FS.removeAll(stage)
                made = true
            }
        } catch {
            await engine.finishBuildContainer(cid)
            if let e = error as? EngineError { throw e }
            throw .internalError("WORKDIR: \(error)")
        }
        try await finishLayerStep(cid, base: base, parent: parent, cacheText: cacheText, createdBy: createdBy, layer: made, &st)
    }

    /// Existing directories on the way to the destination keep their owner and mode.
    /// Directories COPY creates get the `--chown` owner, as dockerd's MkdirAllAndChownNew does.
    func copyAncestorsMetadata(root: String, stageRoot: String, path: String, newOwner: (UInt32, UInt32) = (0, 0), shift: IDShift?) throws {
        var cur = ""
        for comp in path.split(separator: "/") {
            cur += "/" + comp
            let staged = stageRoot + cur
            guard let st = Engine.statInRoot(root, cur), (st.st_mode & S_IFMT) == S_IFDIR else {
                chown(staged, newOwner.0, newOwner.1)
                continue
            }
            chmod(staged, st.st_mode & 0o7777)
            // Staged in the image's own ids (a remapped build container stores host ids).
            chown(staged, shift?.containerUID(st.st_uid) ?? st.st_uid, shift?.containerGID(st.st_gid) ?? st.st_gid)
        }
    }

    /// Glob sources in the context's index: symlinks resolve inside it, `..` never climbs
    /// out, `.dockerignore`d paths are invisible.
    func contextSources(_ pattern: String) throws(EngineError) -> [Source] {
        let parts = BuildContext.clean(pattern).split(separator: "/").map(String.init)
        if parts.isEmpty { return [Source(host: context.dir, rel: "", isDir: true, contextPath: "")] }
        var found: [(String, String)] = [("", "")]  // (as written, resolved)
        for (i, p) in parts.enumerated() {
            var next: [(String, String)] = []
            let isGlob = p.contains("*") || p.contains("?") || p.contains("[")
            for (rel, resolved) in found {
                let names = isGlob ? context.list(resolved).filter { Glob.match(p, $0) } : [p]
                for n in names {
                    let r = rel.isEmpty ? n : rel + "/" + n
                    guard let res = context.resolve(resolved.isEmpty ? n : resolved + "/" + n) else { continue }
                    if ignore.excludes(res) && !(i < parts.count - 1 && ignore.hasExclusions) { continue }
                    next.append((r, res))
                }
            }
            found = next
        }
        return found.compactMap { rel, res in
            guard let e = context.entry(res) else { return nil }
            return Source(host: context.dir + (res.isEmpty ? "" : "/" + res), rel: rel, isDir: e.kind == .directory, contextPath: res)
        }
    }

    /// An entry kind as the cache key has always spelled it (the case name), without reflection
    /// (`"\(kind)"` looks the name up at run time, per file of every COPY).
    static func kindName(_ k: TarEntry.Kind) -> String {
        switch k {
        case .file: return "file"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .hardlink: return "hardlink"
        case .charDevice: return "charDevice"
        case .blockDevice: return "blockDevice"
        case .fifo: return "fifo"
        case .other: return "other"
        }
    }

    /// The cache key's view of a context source, from the index: names, modes, sizes, contents.
    func hashContext(_ path: String, _ rel: String, _ h: SHA256) throws {
        guard let e = context.entry(path) else { return }
        h.update(Array("\(rel)\0\(BuildRun.kindName(e.kind))\0\(e.mode)\0".utf8))
        switch e.kind {
        case .directory:
            for n in context.list(path) {
                let full = path.isEmpty ? n : path + "/" + n
                if ignore.excludes(full) && !ignore.hasExclusions { continue }
                try hashContext(full, rel.isEmpty ? n : rel + "/" + n, h)
            }
        case .symlink, .hardlink: h.update(Array(e.link.utf8))
        case .file:
            h.update(Array("\(e.size)\0".utf8))
            h.update(Array(try context.digest(path).utf8))
        default: break
        }
    }

    /// Glob sources inside the root (context or another image); `..` never climbs out, symlinks
    /// resolve inside it; `.dockerignore`d files are invisible.
    func resolveSources(_ pattern: String, root: String, useIgnore: Bool) throws(EngineError) -> [Source] {
        let parts = MountParser.clean("/" + pattern).split(separator: "/").map(String.init)
        var found: [(String, String)] = [("", root)]  // (rel, host)
        for (i, p) in parts.enumerated() {
            var next: [(String, String)] = []
            let isGlob = p.contains("*") || p.contains("?") || p.contains("[")
            for (rel, _) in found {
                let relDir = rel.isEmpty ? "/" : "/" + rel
                guard let dirHost = try? SafePath.resolveInRoot(root, relDir, followFinal: true) else { continue }
                let names: [String] = isGlob ? ((try? FS.list(dirHost)) ?? []).sorted().filter { Glob.match(p, $0) } : [p]
                for n in names {
                    let r = rel.isEmpty ? n : rel + "/" + n
                    if useIgnore && ignore.excludes(r) && !(i < parts.count - 1 && ignore.hasExclusions) { continue }
                    guard let h = try? SafePath.resolveInRoot(root, "/" + r, followFinal: true), FS.exists(h) else { continue }
                    next.append((r, h))
                }
            }
            found = next
        }
        if parts.isEmpty { return [Source(host: root, rel: "", isDir: true)] }
        return found.map { Source(host: $0.1, rel: $0.0, isDir: FS.isDirectory($0.1)) }
    }

    /// The cache key's view of a source: names, modes, sizes and contents, not times.
    func hashTree(_ host: String, _ rel: String, _ h: SHA256) {
        var st = stat()
        guard lstat(host, &st) == 0 else { return }
        h.update(Array("\(rel)\0\(st.st_mode)\0".utf8))
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            for n in ((try? FS.list(host)) ?? []).sorted() {
                let r = rel.isEmpty ? n : rel + "/" + n
                if ignore.excludes(r) && !ignore.hasExclusions { continue }
                hashTree(host + "/" + n, r, h)
            }
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink(host, &buf, 4095)
            h.update(n > 0 ? buf[0..<n].map { UInt8(bitPattern: $0) } : [])
        case S_IFREG:
            h.update(Array("\(st.st_size)\0".utf8))
            let file = SHA256()
            file.update(file: host)
            h.update(Array(file.finalize().hex.utf8))
        default: break
        }
    }

    static func isArchive(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var b = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &b, 512)
        guard n >= 4 else { return false }
        if b[0] == 0x1F && b[1] == 0x8B { return true }  // gzip
        if b[0] == 0x42 && b[1] == 0x5A && b[2] == 0x68 { return true }  // bzip2
        if b[0] == 0xFD && b[1] == 0x37 && b[2] == 0x7A && b[3] == 0x58 { return true }  // xz
        if n >= 262 && String(decoding: b[257..<262], as: UTF8.self) == "ustar" { return true }
        return false
    }
}

extension Proc {
    static func checked(_ argv: [String]) throws {
        let r = try Proc.run(argv)
        if r.status != 0 { throw EngineError.internalError("\(argv[0]): \(r.stderrText.trimmingSpaces())") }
    }
}

/// What a RUN's mounts hold on the host while the step runs.
struct PreparedMounts: Sendable {
    var binds: [String] = []
    var tmpfs: [String: String] = [:]
    var env: [String] = []
    /// Secret files: removed when the step ends, whatever its outcome.
    var files: [String] = []
    var locks: [String] = []
    /// Forwarded agent sockets: closed when the step ends.
    var closers: [@Sendable () -> Void] = []
    /// Scratch containers whose roots a bind shows (`bind,from=`): removed when the step ends.
    var containers: [String] = []

    func release(_ engine: Engine) async {
        for c in closers { c() }
        for c in containers { await engine.finishBuildContainer(c) }
        for f in files { unlink(f) }
        for l in locks { await engine.releaseBuildStep(l) }
    }
}
