import Archive
import Builder
import Foundation
import GoTemplate
import JSON
import OCI
import Store
import Sys

/// The instructions of one stage, each turned into the next image.
extension BuildRun {
    struct StageState {
        var image: Digest?
        var doc: JSON
        var args: [String: String] = [:]
        var cmdSet = false
        var escape: Character
        var shell: [String] { doc["config"]["Shell"].stringArray ?? ["/bin/sh", "-c"] }
        var env: [String: String] {
            var e: [String: String] = [:]
            for kv in doc["config"]["Env"].stringArray ?? [] {
                let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                e[p[0]] = p.count > 1 ? p[1] : ""
            }
            return e
        }
        /// Variables for word expansion: build args in scope, then the image's environment.
        var expansionEnv: [String: String] { args.merging(env) { _, e in e } }
        func words(_ s: String) -> ShellWords { ShellWords(env: expansionEnv, escape: escape) }
    }

    static let scratchDoc: JSON = [
        "architecture": "amd64", "os": "linux", "config": ["Env": .null, "Cmd": .null],
        "rootfs": ["type": "layers", "diff_ids": []], "history": [],
    ]
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    func expand(_ st: StageState, _ s: String) throws(EngineError) -> String {
        do { return try st.words(s).expand(s) } catch { throw .badRequest(error.message) }
    }
    func words(_ st: StageState, _ ins: Instruction) throws(EngineError) -> [String] {
        if ins.json { return ins.args }
        do { return try st.words("").words(ins.args.first ?? "") } catch { throw .badRequest(error.message) }
    }

    mutating func runStage(
        final: Bool, name: String?, from: String, line: Instruction, body: [Instruction],
        globalArgs: [String: String], escape: Character
    ) async throws(EngineError) -> Digest {
        step += 1
        noCache = request.noCache || name.map { request.noCacheStages.contains($0) } == true
        await say("Step \(step)/\(totalSteps) : \(line.original)\n")
        var st = StageState(image: nil, doc: BuildRun.scratchDoc, escape: escape)
        if from.lowercased() != "scratch" {
            let base: Digest
            if let prior = stageImages[from.lowercased()] {
                base = prior
            } else {
                var found: Digest? = nil
                if !request.pull { found = try? engine.resolveImage(from).id }
                if found == nil {
                    let emit = self.emit
                    found = try await engine.pull(from, credentials: nil, platform: line.flag("platform"), progress: { await emit($0) })
                }
                base = found!
            }
            guard let rec = try? engine.store.image(id: base) else { throw .notFound("No such image: \(from)") }
            st.image = base
            st.doc = rec.config.json
        }
        await say(" ---> \(st.image.map { String($0.hex.prefix(12)) } ?? "scratch")\n")
        // As dockerd: a stage without PATH gets the default one.
        if !(st.doc["config"]["Env"].stringArray ?? []).contains(where: { $0.hasPrefix("PATH=") }) {
            var c = st.doc["config"]
            c["Env"] = JSON.strings([BuildRun.defaultPath] + (c["Env"].stringArray ?? []))
            st.doc["config"] = c
        }
        // Only ARGs declared in the stage are visible; a global one gives its default.
        var globals = globalArgs
        for (k, v) in request.buildArgs where globals[k] != nil { globals[k] = v }
        // The base image's ONBUILD triggers run first.
        let triggers = st.doc["config"]["OnBuild"].stringArray ?? []
        if !triggers.isEmpty {
            await say("# Executing \(triggers.count) build trigger\(triggers.count == 1 ? "" : "s")\n")
            var c = st.doc["config"]; c["OnBuild"] = .null; st.doc["config"] = c
            for t in triggers {
                let parsed: Dockerfile
                do { parsed = try Dockerfile.parse(t) } catch { throw .badRequest(error.message) }
                for ins in parsed.instructions { try await execute(ins, &st, globals: globals, counted: false) }
            }
        }
        for ins in body { try await execute(ins, &st, globals: globals, counted: true) }
        // `--label` goes on the image the build produces, not on the stages before it.
        if final && !request.labels.isEmpty {
            var c = st.doc["config"]
            var l = c["Labels"].object ?? JSONObject()
            for (k, v) in request.labels { l[k] = .string(v) }
            c["Labels"] = JSON.object(l).sortingKeys()
            st.doc["config"] = c
            // Cached as any LABEL step (as dockerd appends it to the Dockerfile): a rebuild with
            // the same labels (Compose always sends some) is the same image, not a new one.
            let text = "LABEL " + request.labels.keys.sorted().map { "\($0)=\(request.labels[$0]!)" }.joined(separator: " ")
            if let hit = cached(st.image, text) {
                st.image = hit
            } else {
                let id = try await engine.registerStep(st.doc, base: st.image, createdBy: "/bin/sh -c #(nop)  " + text, emptyLayer: true)
                engine.cacheStore(cacheKey(st.image, text), id)
                st.image = id
            }
        }
        // A stage with nothing but FROM scratch still needs an image.
        if st.image == nil { st.image = try await engine.registerStep(st.doc, base: nil, createdBy: "", emptyLayer: true) }
        return st.image!
    }

    mutating func execute(_ ins: Instruction, _ st: inout StageState, globals: [String: String], counted: Bool) async throws(EngineError) {
        // As dockerd: a build whose client went away stops at the next step instead of running
        // (and creating step containers) for nobody.
        if request.isCancelled() { throw .badRequest("build cancelled: the client went away") }
        if counted {
            step += 1
            await say("Step \(step)/\(totalSteps) : \(ins.original)\n")
        }
        var cfg = st.doc["config"]
        var cacheText = ""
        var meta = true
        switch ins.keyword {
        case "ENV":
            let pairs: [(String, String)]
            do { pairs = try st.words("").pairs(ins.args.first ?? "", legacyAllowed: true) } catch { throw .badRequest(error.message) }
            var env = cfg["Env"].stringArray ?? []
            for (k, v) in pairs {
                env.removeAll { $0 == k || $0.hasPrefix(k + "=") }
                env.append(k + "=" + v)
            }
            cfg["Env"] = JSON.strings(env)
            cacheText = "ENV " + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        case "ARG":
            for (k, v) in try argPairs(ins, escape: st.escape, env: st.expansionEnv) {
                st.args[k] = request.buildArgs[k] ?? v ?? globals[k] ?? ""
            }
            await say(" ---> \(st.image.map { String($0.hex.prefix(12)) } ?? "scratch")\n")
            return
        case "LABEL":
            let pairs: [(String, String)]
            do { pairs = try st.words("").pairs(ins.args.first ?? "", legacyAllowed: true) } catch { throw .badRequest(error.message) }
            var labels = cfg["Labels"].object ?? JSONObject()
            for (k, v) in pairs { labels[k] = .string(v) }
            cfg["Labels"] = JSON.object(labels).sortingKeys()
            cacheText = "LABEL " + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        case "MAINTAINER":
            st.doc["author"] = .string(try expand(st, ins.args.first ?? ""))
            cacheText = "MAINTAINER " + (ins.args.first ?? "")
        case "EXPOSE":
            var ports = cfg["ExposedPorts"].object ?? JSONObject()
            for p in try words(st, ins) {
                let parts = p.split(separator: "/").map(String.init)
                guard let first = parts.first, Int(first.split(separator: "-").first ?? "") != nil else { throw .badRequest("invalid containerPort: \(p)") }
                ports[first + "/" + (parts.count > 1 ? parts[1].lowercased() : "tcp")] = [:]
            }
            cfg["ExposedPorts"] = JSON.object(ports).sortingKeys()
            cacheText = "EXPOSE " + ports.keys.sorted().joined(separator: " ")
        case "VOLUME":
            var vols = cfg["Volumes"].object ?? JSONObject()
            for v in try words(st, ins) where !v.isEmpty { vols[v] = [:] }
            cfg["Volumes"] = JSON.object(vols).sortingKeys()
            cacheText = "VOLUME [" + vols.keys.sorted().joined(separator: " ") + "]"
        case "WORKDIR":
            var w = try expand(st, ins.args.first ?? "")
            if !w.hasPrefix("/") { w = ((cfg["WorkingDir"].string ?? "").isEmpty ? "/" : cfg["WorkingDir"].string!) + "/" + w }
            w = MountParser.clean(w)
            cfg["WorkingDir"] = .string(w)
            cacheText = "WORKDIR " + w
            st.doc["config"] = cfg
            return try await workdir(w, &st, cacheText)
        case "USER":
            cfg["User"] = .string(try expand(st, ins.args.first ?? ""))
            cacheText = "USER " + (cfg["User"].string ?? "")
        case "CMD", "ENTRYPOINT":
            let v: [String] = ins.json ? ins.args : (ins.args.isEmpty ? [] : st.shell + [ins.args[0]])
            cfg[ins.keyword == "CMD" ? "Cmd" : "Entrypoint"] = JSON.strings(v)
            if ins.keyword == "CMD" { st.cmdSet = true } else if !st.cmdSet { cfg["Cmd"] = .null }
            // dockerd's legacy builder records these as Go's %q of the list: ["a" "b"].
            cacheText = "\(ins.keyword) [" + v.map(GoFormat.quote).joined(separator: " ") + "]"
        case "SHELL":
            guard ins.json, !ins.args.isEmpty else { throw .badRequest("SHELL requires the arguments to be in JSON form") }
            cfg["Shell"] = JSON.strings(ins.args)
            cacheText = "SHELL [" + ins.args.map(GoFormat.quote).joined(separator: " ") + "]"
        case "STOPSIGNAL":
            cfg["StopSignal"] = .string(try expand(st, ins.args.first ?? ""))
            cacheText = "STOPSIGNAL " + (cfg["StopSignal"].string ?? "")
        case "HEALTHCHECK":
            cfg["Healthcheck"] = try healthcheck(ins, st)
            cacheText = "HEALTHCHECK " + cfg["Healthcheck"].serialized()
        case "ONBUILD":
            let text = (ins.args.first ?? "").trimmingSpaces()
            let kw = text.prefix { $0 != " " }.uppercased()
            guard !["ONBUILD", "FROM", "MAINTAINER"].contains(kw) else { throw .badRequest("\(kw) isn't allowed as an ONBUILD trigger") }
            var on = cfg["OnBuild"].stringArray ?? []
            on.append(kw + text.dropFirst(kw.count))
            cfg["OnBuild"] = JSON.strings(on)
            cacheText = "ONBUILD " + text
        case "RUN", "COPY", "ADD":
            meta = false
        default:
            throw .badRequest("unknown instruction: \(ins.keyword)")
        }
        if meta {
            st.doc["config"] = cfg
            let createdBy = "/bin/sh -c #(nop)  " + cacheText
            if let hit = cached(st.image, cacheText) { return await use(hit, &st) }
            let id = try await engine.registerStep(st.doc, base: st.image, createdBy: createdBy, emptyLayer: true)
            engine.cacheStore(cacheKey(st.image, cacheText), id)
            try await adopt(id, &st)
            await say(" ---> \(id.hex.prefix(12))\n")
            return
        }
        if ins.keyword == "RUN" { try await run(ins, &st) } else { try await copy(ins, &st) }
    }

    /// `cacheFormat` changes whenever what a step produces from the same key changes (2: ignored
    /// files no longer ride along in a directory COPY), so results of older builds are not reused.
    static let cacheFormat = "2"

    func cacheKey(_ parent: Digest?, _ text: String) -> String {
        Digest.of(BuildRun.cacheFormat + "\n" + (parent?.description ?? "scratch") + "\n" + text).hex
    }

    func cached(_ parent: Digest?, _ text: String) -> Digest? {
        guard !noCache, let hit = engine.cacheLookup(cacheKey(parent, text)) else { return nil }
        // With --cache-from, as in dockerd's legacy builder, only those images (and the images
        // they were built from) may stand in for a step; the local cache alone does not.
        if !request.cacheFrom.isEmpty && !cacheFromIDs.contains(hit) { return nil }
        return hit
    }

    /// `--cache-from`: an image made elsewhere (pulled, loaded) whose history continues the
    /// current image's with exactly this step lends its layer instead of running the step.
    func layerFromCacheSources(_ st: StageState, createdBy: String) -> Digest? {
        guard !noCache else { return nil }
        let hist = st.doc["history"].array ?? []
        let diffs = st.doc["rootfs"]["diff_ids"].stringArray ?? []
        for c in cacheSources {
            let ch = c["history"].array ?? [], cd = c["rootfs"]["diff_ids"].stringArray ?? []
            guard ch.count > hist.count, cd.count > diffs.count, Array(cd.prefix(diffs.count)) == diffs,
                zip(hist, ch).allSatisfy({ $0["created_by"] == $1["created_by"] && ($0["empty_layer"].bool ?? false) == ($1["empty_layer"].bool ?? false) })
            else { continue }
            let next = ch[hist.count]
            guard next["created_by"].string == createdBy, next["empty_layer"].bool != true else { continue }
            return Digest(parsing: cd[diffs.count])
        }
        return nil
    }

    /// A step taken from a `--cache-from` image: the image is made from its layer, no work done.
    func reuseCacheSource(_ st: inout StageState, parent: Digest?, createdBy: String, cacheText: String) async throws(EngineError) -> Bool {
        guard let diff = layerFromCacheSources(st, createdBy: createdBy) else { return false }
        var doc = st.doc
        doc["rootfs"] = ["type": "layers", "diff_ids": JSON.strings((doc["rootfs"]["diff_ids"].stringArray ?? []) + [diff.description])]
        let id = try await engine.registerStep(doc, base: st.image, createdBy: createdBy, emptyLayer: false)
        engine.cacheStore(cacheKey(parent, cacheText), id)
        await use(id, &st)
        return true
    }

    func use(_ id: Digest, _ st: inout StageState) async {
        await say(" ---> Using cache\n ---> \(id.hex.prefix(12))\n")
        if let rec = try? engine.store.image(id: id) { st.doc = rec.config.json }
        st.image = id
    }

    func adopt(_ id: Digest, _ st: inout StageState) async throws(EngineError) {
        guard let rec = try? engine.store.image(id: id) else { throw .internalError("image \(id) vanished") }
        st.doc = rec.config.json
        st.image = id
    }

    func healthcheck(_ ins: Instruction, _ st: StageState) throws(EngineError) -> JSON {
        var text = (ins.args.first ?? "").trimmingSpaces()
        if text.uppercased() == "NONE" { return ["Test": ["NONE"]] }
        var hc: JSON = [:]
        for f in ins.flags {
            let kv = f.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2 else { throw .badRequest("invalid flag \(f)") }
            switch kv[0] {
            case "interval", "timeout", "start-period", "start-interval":
                guard let ns = BuildRun.duration(kv[1]) else { throw .badRequest("time: invalid duration \"\(kv[1])\"") }
                hc[["interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod", "start-interval": "StartInterval"][kv[0]]!] = .int(ns)
            case "retries":
                guard let r = Int64(kv[1]) else { throw .badRequest("invalid retries \(kv[1])") }
                hc["Retries"] = .int(r)
            default: throw .badRequest("Unknown flag: \(kv[0])")
            }
        }
        guard text.uppercased().hasPrefix("CMD") else {
            throw .badRequest("Unknown type \"\(text.split(separator: " ").first ?? "")\" in HEALTHCHECK (try CMD)")
        }
        text = String(text.dropFirst(3)).trimmingSpaces()
        if text.hasPrefix("["), let arr = Dockerfile.jsonArray(text) {
            hc["Test"] = JSON.strings(["CMD"] + arr)
        } else {
            hc["Test"] = JSON.strings(["CMD-SHELL", text])
        }
        return hc
    }

    static func duration(_ s: String) -> Int64? {
        var total = 0.0, num = ""
        var i = s.startIndex
        while i < s.endIndex {
            let ch = s[i]
            if ch.isNumber || ch == "." { num.append(ch); i = s.index(after: i); continue }
            var unit = String(ch)
            i = s.index(after: i)
            if "mun".contains(unit), i < s.endIndex, s[i] == "s" { unit += "s"; i = s.index(after: i) }
            guard let v = Double(num) else { return nil }
            let mult: Double = ["h": 3600e9, "m": 60e9, "s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1][unit] ?? -1
            if mult < 0 { return nil }
            total += v * mult
            num = ""
        }
        return num.isEmpty ? Int64(total) : nil
    }
}
