import Archive
import DockerAPI
import Engine
import Foundation
import JSON
import NIOHTTP1
import Sys

extension Router {
    func containers(_ req: Request, _ res: Responder, _ p: [String]) async throws {
        switch (req.method, p.count, p.first ?? "", p.count > 1 ? p[1] : "") {
        case (.GET, 1, "json", _): try await list(req, res)
        case (.POST, 1, "create", _):
            let body = try jsonBody(req)
            let r = try await engine.create(name: req.q("name"), body: body, apiVersion: req.version, platform: req.version >= .v1_41 ? req.q("platform") : nil)
            res.json(201, IDResponse(id: r.id, warnings: r.warnings).json)
        case (.POST, 1, "prune", _):
            let f = try filters(req, accepted: ["label", "label!", "until"])
            let r = try await engine.prune(labels: labelFilter(f), until: try untilFilter(f))
            res.json(200, PruneReport(key: "ContainersDeleted", names: r.deleted, spaceReclaimed: r.reclaimed).json)
        case (.GET, 2, let id, "json"):
            res.json(200, VersionAdapter.container(try await engine.inspectContainer(id, size: req.bool("size")).json, req.version))
        case (.POST, 2, let id, "start"):
            guard req.body.isEmpty || (try? JSON.parse(req.body))?.isNull == true || req.body == Array("{}".utf8) else {
                throw EngineError.badRequest("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
            }
            try await engine.start(id)
            res.noContent()
        case (.POST, 2, let id, "stop"):
            try await engine.stop(id, timeout: try req.int("t"), signal: req.version >= .v1_42 ? req.q("signal") : nil)
            res.noContent()
        case (.POST, 2, let id, "restart"):
            try await engine.restart(id, timeout: try req.int("t"), signal: req.version >= .v1_42 ? req.q("signal") : nil)
            res.noContent()
        case (.POST, 2, let id, "kill"):
            try await engine.kill(id, signal: req.q("signal"))
            res.noContent()
        case (.POST, 2, let id, "rename"):
            try await engine.rename(id, to: req.q("name") ?? "")
            res.noContent()
        case (.POST, 2, let id, "wait"): try await wait(req, res, id)
        case (.POST, 2, let id, "pause"):
            try await engine.pause(id, true)
            res.noContent()
        case (.POST, 2, let id, "unpause"):
            try await engine.pause(id, false)
            res.noContent()
        case (.HEAD, 2, let id, "archive"):
            let s = try await engine.statPath(id, path: try archivePath(req))
            res.send(status: 200, extraHeaders: [("X-Docker-Container-Path-Stat", Data(s.json.bytes).base64EncodedString())], headOnly: true)
        case (.GET, 2, let id, "archive"):
            let source = try await engine.archiveSource(id, path: try archivePath(req))
            await streamTar(
                res, extraHeaders: [("X-Docker-Container-Path-Stat", Data(source.stat.json.bytes).base64EncodedString())],
                walk: { sink in try source.write(sink) }, done: { source.finish() })
        case (.PUT, 2, let id, "archive"):
            let path = try archivePath(req)
            let file = try spool(req)
            defer { unlink(file) }
            try await engine.extractInto(id, path: path, tarFile: file, copyUIDGID: ["1", "true"].contains(req.q("copyUIDGID") ?? ""))
            res.send(status: 200)
        case (.GET, 2, let id, "stats"): try await stats(req, res, id)
        case (.POST, 2, let id, "update"):
            let warnings = try await engine.update(id, body: UpdateConfig(json: try jsonBody(req, as: RequestBodies.update)))
            res.json(200, ["Warnings": JSON.strings(warnings)])  // container.ContainerUpdateOKBody
        case (.POST, 2, let id, "resize"):
            let h = try req.int("h") ?? 24, w = try req.int("w") ?? 80
            guard (0...65535).contains(h), (0...65535).contains(w) else { throw EngineError.badRequest("invalid resize request: \(h)x\(w)") }
            try await engine.resize(id, height: h, width: w)
            res.send(status: 200)
        case (.GET, 2, let id, "changes"):
            let list = try await engine.changes(id)
            res.json(200, list.isEmpty ? .null : .array(list.map { ChangeItem(path: $0.path, kind: Int($0.kind.rawValue)).json }))
        case (.GET, 2, let id, "export"): try await export(res, id)
        case (.GET, 2, let id, "top"): res.json(200, try await engine.top(id, psArgs: req.q("ps_args") ?? "").json)
        case (.POST, 2, let id, "exec"):
            let execID = try await engine.createExec(id, body: ExecConfig(json: try jsonBody(req, as: RequestBodies.exec, fields: Engine.execFields)))
            res.json(201, IDResponse(id: execID).json)
        case (.POST, 2, let id, "attach"): try await attach(req, res, id)
        case (.GET, 2, let id, "logs"): try await logs(req, res, id)
        case (.DELETE, 1, let id, _):
            if req.bool("link") { try await engine.removeLink(id) } else { try await engine.remove(id, force: req.bool("force"), volumes: req.bool("v")) }
            res.noContent()
        case (.DELETE, 2, let parent, let alias) where req.bool("link"):
            try await engine.removeLink(parent + "/" + alias)
            res.noContent()
        default: res.json(404, ErrorResponse("page not found").json)
        }
    }

    func export(_ res: Responder, _ id: String) async throws {
        let (root, release, shift) = try await engine.exportRoot(id)
        await streamTar(
            res,
            walk: { sink in
                let tree = TreeTar(root: root, layer: false, sink: sink)
                tree.shift = shift
                try tree.write()
            }, done: release)
    }

    /// Streams a tar that a blocking walk writes (file I/O, so on a thread of its own) through a
    /// bounded queue the response drains, a MiB at a time. `done` runs on that thread once the walk
    /// has stopped, as it owns what the walk reads (descriptors, a freeze, a mount). A client that
    /// goes away stops the walk; a walk that fails after the head (200) ends the body short, never
    /// as a tar that looks whole.
    func streamTar(
        _ res: Responder, extraHeaders: [(String, String)] = [], walk: @escaping @Sendable (@escaping TarWriter.Sink) throws -> Void,
        done: @escaping @Sendable () -> Void
    ) async {
        res.startStream(contentType: "application/x-tar", extraHeaders: extraHeaders)
        let (chunks, cont) = AsyncThrowingStream<[UInt8], Error>.makeStream(bufferingPolicy: .bufferingOldest(64))
        let writer = Thread {
            defer { done() }
            var pending: [UInt8] = []
            func flush() throws {
                while true {
                    switch cont.yield(pending) {
                    case .dropped: usleep(2000)
                    case .terminated: throw CancellationError()  // the response is over: stop walking
                    default:
                        pending = []
                        return
                    }
                }
            }
            do {
                try walk { bytes in
                    pending += bytes
                    if pending.count >= 1 << 20 { try flush() }
                }
                if !pending.isEmpty { try flush() }
                cont.finish()
            } catch {
                cont.finish(throwing: error)
            }
        }
        writer.start()
        do {
            for try await c in chunks { if !(await res.write(c)) { break } }
            res.end()
        } catch {
            res.abort()
        }
    }

    /// One document (`stream=0`; two samples a second apart unless `one-shot`, so precpu is
    /// filled) or a sample a second as a JSON stream.
    func stats(_ req: Request, _ res: Responder, _ id: String) async throws {
        let stream = req.q("stream").map { _ in req.bool("stream") } ?? true
        var prev = try await engine.statsSample(id, previous: nil)
        if !stream {
            if !req.bool("one-shot") {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                prev = try await engine.statsSample(id, previous: prev)
            }
            return res.json(200, prev)
        }
        res.startStream(contentType: "application/json")
        while await res.writeJSONLine(prev) {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            guard let next = try? await engine.statsSample(id, previous: prev) else { break }
            prev = next
            if !(await engine.isRunning(next["id"].string ?? "")) { _ = await res.writeJSONLine(prev); break }
        }
        res.end()
    }

    static let containerListFilters: Set<String> = [
        "ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label", "name", "network", "publish", "since",
        "status", "volume",
    ]
    static let containerStates = ["created", "running", "paused", "restarting", "removing", "exited", "dead"]
    static let healthStates = ["none", "starting", "healthy", "unhealthy"]

    func list(_ req: Request, _ res: Responder) async throws {
        let f = try filters(req, accepted: Self.containerListFilters)
        for v in f["status"] ?? [] where !Self.containerStates.contains(v) {
            throw EngineError.badRequest(
                "invalid filter 'status=\(v)': invalid value for state (\(v)): must be one of \(Self.containerStates.joined(separator: ", "))")
        }
        for v in f["health"] ?? [] where !Self.healthStates.contains(v) {
            throw EngineError.badRequest(
                "invalid filter 'health=\(v)': invalid value for health (\(v)): must be one of \(Self.healthStates.joined(separator: ", "))")
        }
        let isTask = try boolFilter(f, "is-task")
        let publish = try Self.portFilter(f, "publish"), expose = try Self.portFilter(f, "expose")
        var all = await engine.allContainers()
        // `before`/`since`: created before or after that container (which must exist).
        for ref in f["before"] ?? [] {
            let mark = try await engine.container(ref)
            all = all.filter { $0.created < mark.created }
        }
        for ref in f["since"] ?? [] {
            let mark = try await engine.container(ref)
            all = all.filter { $0.created > mark.created }
        }
        if !req.bool("all") && f["status"] == nil { all = all.filter { $0.state.running || $0.state.restarting } }  // as dockerd: restarting counts as running
        // Berth runs no swarm tasks.
        if isTask == true { all = [] }
        for (k, values) in f {
            switch k {
            case "before", "since", "is-task", "publish", "expose", "network", "volume": break  // above, or on the summaries below
            case "isolation": all = all.filter { c in values.contains(c.hostConfig.isolation.isEmpty ? "default" : c.hostConfig.isolation) }
            case "status": all = all.filter { values.contains($0.state.displayStatus) }
            case "name": all = all.filter { c in values.contains { c.name.contains($0) || ("/" + c.name).contains($0) } }
            case "id": all = all.filter { c in values.contains { c.id.hasPrefix($0) } }
            case "label": all = all.filter { DockerShapes.matchLabels($0.labels, values) }
            case "ancestor":
                var ids: [String] = []
                for v in values { if let img = try? engine.resolveImage(v) { ids.append(img.id.description) } }
                all = all.filter { ids.contains($0.image.description) }
            case "health":
                let healths = await engine.healthStatuses()
                all = all.filter { c in values.contains(healths[c.id] ?? "none") }
            case "exited": all = all.filter { c in !c.state.running && values.contains(String(c.state.exitCode)) }
            default: throw EngineError.badRequest("invalid filter '\(k)'")
            }
        }
        // Mounts, networks and ports as the summary shows them, as dockerd matches them.
        if f["volume"] != nil || f["network"] != nil || !publish.isEmpty || !expose.isEmpty {
            let kept = Set(
                await engine.summaries(all, size: false).map(\.json).filter { s in
                    Self.summaryMatches(s, volumes: f["volume"], networks: f["network"], publish: publish, expose: expose)
                }.compactMap { $0["Id"].string })
            all = all.filter { kept.contains($0.id) }
        }
        if let n = try req.int("limit"), n > 0 { all = Array(all.prefix(n)) }
        res.json(200, .array(await engine.summaries(all, size: req.bool("size")).map { VersionAdapter.containerSummary($0.json, req.version) }))
    }

    /// `publish`/`expose` values: `port[/proto]` or `start-end[/proto]`, each port as "80/tcp".
    static func portFilter(_ f: [String: [String]], _ key: String) throws -> Set<String> {
        var out: Set<String> = []
        for value in f[key] ?? [] {
            if value.contains(":") { throw EngineError.badRequest("filter for '\(key)' should not contain ':': \(value)") }
            let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let proto = parts.count == 2 ? String(parts[1]) : "tcp"
            let bounds = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0) }
            guard !proto.isEmpty, let low = bounds.first ?? nil, let high = bounds.count == 2 ? bounds[1] : low,
                (0...65535).contains(low), (low...65535).contains(high)
            else { throw EngineError.badRequest("error while looking up for \(key) \(value): invalid port range: \(parts[0])") }
            for p in low...high { out.insert("\(p)/\(proto)") }
        }
        return out
    }

    static func summaryMatches(_ s: JSON, volumes: [String]?, networks: [String]?, publish: Set<String>, expose: Set<String>) -> Bool {
        if let volumes {
            let mounts = s["Mounts"].array ?? []
            let hit = volumes.contains { v in
                mounts.contains { m in m["Destination"].string == v || (m["Name"].string ?? m["Source"].string) == v || m["Source"].string == v }
            }
            if !hit { return false }
        }
        if let networks {
            let attached = s["NetworkSettings"]["Networks"].object ?? JSONObject()
            let hit = networks.contains { n in attached[n] != nil || attached.contains { ($0.1["NetworkID"].string ?? "").hasPrefix(n) && !n.isEmpty } }
            if !hit { return false }
        }
        if !publish.isEmpty || !expose.isEmpty {
            let ports = s["Ports"].array ?? []
            let hit = ports.contains { p in
                let type = p["Type"].string ?? "tcp"
                return publish.contains("\(p["PublicPort"].int ?? 0)/\(type)") || expose.contains("\(p["PrivatePort"].int ?? 0)/\(type)")
            }
            if !hit { return false }
        }
        return true
    }

    /// Headers go out at once (the CLI calls wait before start); the body when the condition holds.
    func wait(_ req: Request, _ res: Responder, _ id: String) async throws {
        let given = req.q("condition").flatMap { $0.isEmpty ? nil : $0 } ?? "not-running"
        guard let cond = Engine.WaitCondition(rawValue: given) else {
            throw EngineError.badRequest("invalid condition: \"\(given)\"")
        }
        let c = try await engine.container(id)
        res.startStream(contentType: "application/json")
        let code = try await engine.wait(c.id, condition: cond)
        _ = await res.write(Array(((["StatusCode": .int(Int64(code)), "Error": .null] as JSON).serialized() + "\n").utf8))
        res.end()
    }

    /// The archive endpoints' `path`, which dockerd requires (without one a GET sent the whole
    /// root).
    func archivePath(_ req: Request) throws -> String {
        guard let path = req.q("path"), !path.isEmpty else { throw EngineError.badRequest("bad parameter: path cannot be empty") }
        return path
    }

    func logs(_ req: Request, _ res: Responder, _ id: String) async throws {
        let src = try await engine.logSource(id)
        var o = LogOptions()
        o.stdout = req.bool("stdout")
        o.stderr = req.bool("stderr")
        if !o.stdout && !o.stderr { throw EngineError.badRequest("Bad parameters: you must choose at least one stream") }
        o.follow = req.bool("follow")
        if !o.follow { await engine.settleAfterStart(src.id) }
        // A time that does not parse is refused, as dockerd (it was ignored: the whole log came).
        func time(_ key: String) throws -> Timestamp? {
            guard let v = req.q(key), v != "0", !v.isEmpty else { return nil }
            guard let t = Timestamp.parse(v) ?? Timestamp.parseRelative(v) else {
                throw EngineError.badRequest("strconv.ParseInt: parsing \(JSON.string(v).serialized()): invalid syntax")
            }
            return t
        }
        o.since = try time("since")
        o.until = try time("until")
        if let t = req.q("tail"), t != "all", let n = Int(t) { o.tail = n }
        let timestamps = req.bool("timestamps")
        // dockerd puts the entry's attributes (json-file's `labels`, `env`, `tag` options), then a
        // space, before each line; the space alone for an entry without attributes.
        let details = req.bool("details")
        let contentType = src.tty || req.version < .v1_42 ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream"
        let engine = self.engine
        let cid = src.id
        await LogReader.read(
            path: src.path, options: o, stillRunning: { await engine.isRunning(cid) },
            opened: { res.startStream(contentType: contentType) }
        ) { entries in
            var out: [UInt8] = []
            for e in entries {
                var payload = details ? e.details + [0x20] + e.text : e.text
                if timestamps { payload = Array((e.time.rfc3339Nano + " ").utf8) + payload }
                out += src.tty ? payload : StreamFrame.frame(e.stream, payload)
            }
            return await res.write(out)
        }
        res.end()
    }

    /// Hijacks the connection and relays the container's stdio until it exits or the client leaves.
    func attach(_ req: Request, _ res: Responder, _ id: String) async throws {
        let c = try await engine.container(id)
        let tty = c.config.tty
        let wantOut = req.bool("stdout"), wantErr = req.bool("stderr"), wantIn = req.bool("stdin")
        let stdinOnce = c.stdinOnce
        // Flow-controlled, never dropped: the shim reader thread waits while a megabyte is on
        // its way to a slow client, so the shim (and the container's writes) wait too, as with
        // dockerd; see FlowControlledRelay for a client that stops reading altogether.
        let relay = FlowControlledRelay()
        let session = AttachSession { frame in
            switch frame.kind {
            case .stdout where wantOut: relay.push(tty ? frame.payload : StreamFrame.frame(1, frame.payload))
            case .stderr where wantErr: relay.push(tty ? frame.payload : StreamFrame.frame(2, frame.payload))
            case .exited: relay.finish()
            default: break
            }
        }
        guard let keys = DetachMatcher.parse(req.q("detachKeys") ?? "") else {
            throw EngineError.badRequest("Invalid detach keys (\(req.q("detachKeys") ?? "")) provided")
        }
        let matcher = LockedMatcher(DetachMatcher(keys: keys))
        // logs=1 replays what the container already wrote; stream=0 stops there.
        let replay = req.bool("logs")
        let live = req.q("stream") == nil ? !replay : req.bool("stream")
        if live && !(replay && !c.state.running && c.state.status != "created") {
            try await engine.attach(c.id, session: session)
        } else {
            relay.finish()
        }
        try await res.hijack(
            upgrade: req.wantsUpgrade, multiplexed: !tty && req.version >= .v1_42,
            onInput: { bytes in
                guard wantIn else { return }
                let (pass, detach) = matcher.feed(bytes)
                if !pass.isEmpty { session.sendStdin(pass) }
                // Detaching leaves the container running: only this client goes.
                if detach { relay.finish() }
            },
            onInputClosed: {
                if wantIn && stdinOnce { session.closeStdin() }
            })
        if replay, let src = try? await engine.logSource(c.id) {
            // docker-py takes the raw socket from under its HTTP reader once it has parsed the
            // 101: bytes that arrived together with the head are lost to it. dockerd's replay
            // starts later (it decodes the log first); give the client that moment too.
            try? await Task.sleep(for: .milliseconds(20))
            var o = LogOptions()
            o.stdout = wantOut
            o.stderr = wantErr
            await LogReader.read(path: src.path, options: o, stillRunning: { false }) { entries in
                var out: [UInt8] = []
                for e in entries { out += tty ? e.text : StreamFrame.frame(e.stream, e.text) }
                return await res.writeRaw(out)
            }
        }
        for await chunk in relay.stream {
            guard let chunk else { break }
            if !(await res.writeRaw(chunk)) { break }
            relay.delivered(chunk.count)
        }
        session.detach()
        relay.close()
        res.close()
    }
}

/// A DetachMatcher shared with the connection's event loop.
final class LockedMatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var m: DetachMatcher
    init(_ m: DetachMatcher) { self.m = m }
    func feed(_ b: [UInt8]) -> (pass: [UInt8], detach: Bool) { lock.lock(); defer { lock.unlock() }; return m.feed(b) }
}
