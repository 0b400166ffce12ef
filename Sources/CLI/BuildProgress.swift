import Glibc
import JSON
import Sys

/// `build --progress=plain|tty|auto`: the builder's step stream drawn as BuildKit's clients draw
/// their vertexes, on stderr (as buildx): each step a numbered vertex (`#3 [2/5] RUN …`), its
/// output with the seconds since it started, `CACHED` or `DONE 0.4s` when it ends, the export
/// last. On a terminal (`tty`) the list is redrawn in place under a `[+] Building` header.
struct BuildKitStyleProgress {
    enum State { case running, cached, done, failed }
    struct Vertex {
        var title: String
        var started: Double
        var ended: Double? = nil
        var state = State.running
        var log: [String] = []
    }

    let tty: Bool
    let fd: Int32 = 2
    private var vertexes: [Vertex] = []
    private var pending = ""
    private var drawn = 0
    private let begun = BuildKitStyleProgress.now()
    private var imageID = ""
    private var tags: [String] = []
    /// BuildKit's own vertexes (a session build), by digest: drawn as they come, with no step
    /// lines to parse and no export vertex made up at the end.
    private var byDigest: [String: Int] = [:]
    private var fromVertexes = false

    init(tty: Bool) {
        self.tty = tty
        if !tty { emit("#0 building with \"default\" instance using docker driver\n\n") }
    }

    static func now() -> Double { Double(Timestamp.monotonicNanos()) / 1e9 }

    private func emit(_ s: String) { Out.raw(fd, Array(s.utf8)) }

    mutating func feed(_ m: JSON) {
        if let id = m["aux"]["ID"].string { imageID = id }
        guard let s = m["stream"].string else { return }
        pending += s
        while let nl = pending.firstIndex(of: "\n") {
            let line = String(pending[..<nl])
            pending = String(pending[pending.index(after: nl)...])
            take(line)
        }
        if tty { redraw() }
    }

    /// One event of a session build (berth-buildkit's output): a vertex's state or its log.
    mutating func event(_ m: JSON) {
        fromVertexes = true
        if let id = m["aux"]["ID"].string { imageID = id }
        if let d = m["vertex"].string {
            let completed = m["completed"].bool == true, cached = m["cached"].bool == true
            var index = byDigest[d]
            if index == nil {
                guard m["started"].bool == true || completed || cached else { return }
                vertexes.append(Vertex(title: m["name"].string ?? d, started: BuildKitStyleProgress.now()))
                index = vertexes.count - 1
                byDigest[d] = index
                if !tty { emit("#\(vertexes.count) \(vertexes[index!].title)\n") }
            }
            if let i = index, completed || cached, vertexes[i].ended == nil {
                var v = vertexes[i]
                v.ended = BuildKitStyleProgress.now()
                let error = m["error"].string
                v.state = error != nil ? .failed : cached ? .cached : .done
                vertexes[i] = v
                if !tty {
                    switch v.state {
                    case .cached: emit("#\(i + 1) CACHED\n\n")
                    case .failed: emit("#\(i + 1) ERROR: \(error ?? "")\n\n")
                    default: emit("#\(i + 1) DONE \(Out.fixed(v.ended! - v.started, 1))s\n\n")
                    }
                }
            }
        } else if let d = m["log"].string, let i = byDigest[d], let data = m["data"].string {
            let t = BuildKitStyleProgress.now() - vertexes[i].started
            for line in data.split(separator: "\n", omittingEmptySubsequences: false).dropLast(data.hasSuffix("\n") ? 1 : 0) {
                vertexes[i].log.append(String(line))
                if !tty { emit("#\(i + 1) \(Out.fixed(t, 3)) \(line)\n") }
            }
        }
        if tty { redraw() }
    }

    private mutating func take(_ line: String) {
        if line.hasPrefix("Step "), let colon = line.firstRange(of: " : ") {
            let counter = line.dropFirst(5)[..<colon.lowerBound]
            close(.done)
            open("[\(counter)] \(line[colon.upperBound...])")
        } else if line == " ---> Using cache" {
            if var v = vertexes.last, v.state == .running {
                v.state = .cached
                vertexes[vertexes.count - 1] = v
            }
        } else if line.hasPrefix(" ---> ") || line.hasPrefix("Removing intermediate container") || line.isEmpty {
            return
        } else if line.hasPrefix("Successfully built ") {
            close(.done)
        } else if line.hasPrefix("Successfully tagged ") {
            tags.append(String(line.dropFirst("Successfully tagged ".count)))
        } else if var v = vertexes.last, v.state == .running {
            let t = BuildKitStyleProgress.now() - v.started
            v.log.append(line)
            vertexes[vertexes.count - 1] = v
            if !tty { emit("#\(vertexes.count) \(Out.fixed(t, 3)) \(line)\n") }
        }
    }

    private mutating func open(_ title: String) {
        vertexes.append(Vertex(title: title, started: BuildKitStyleProgress.now()))
        if !tty { emit("#\(vertexes.count) \(title)\n") }
    }

    private mutating func close(_ state: State) {
        guard var v = vertexes.last, v.ended == nil else { return }
        v.ended = BuildKitStyleProgress.now()
        if v.state == .running { v.state = state }
        vertexes[vertexes.count - 1] = v
        if tty { return }
        let n = vertexes.count
        switch v.state {
        case .cached: emit("#\(n) CACHED\n\n")
        case .failed: break
        default: emit("#\(n) DONE \(Out.fixed(v.ended! - v.started, 1))s\n\n")
        }
    }

    /// The build ended: the export vertex, or the failing step's error.
    mutating func finish(error: String?) {
        if fromVertexes {
            if tty { redraw(final: true) }
            return
        }
        if !pending.isEmpty { take(pending); pending = "" }
        if let error {
            if var v = vertexes.last, v.ended == nil {
                v.state = .failed
                v.ended = BuildKitStyleProgress.now()
                vertexes[vertexes.count - 1] = v
                if !tty { emit("#\(vertexes.count) ERROR: \(error)\n\n") }
            }
        } else {
            close(.done)
            let start = BuildKitStyleProgress.now()
            var lines = ["writing image \(imageID) done"]
            for t in tags { lines.append("naming to \(Self.qualified(t)) done") }
            vertexes.append(Vertex(title: "exporting to image", started: start, ended: start, state: .done, log: lines))
            if !tty {
                let n = vertexes.count
                emit("#\(n) exporting to image\n" + lines.map { "#\(n) \($0)\n" }.joined() + "#\(n) DONE 0.0s\n")
            }
        }
        if tty { redraw(final: true) }
    }

    /// A tag as BuildKit names it: `docker.io/library/x:latest`.
    static func qualified(_ t: String) -> String {
        var name = t
        let slash = name.firstIndex(of: "/")
        let first = slash.map { String(name[..<$0]) } ?? ""
        if slash == nil || !(first.contains(".") || first.contains(":") || first == "localhost") {
            name = "docker.io/" + (slash == nil ? "library/" : "") + name
        }
        let last = name.split(separator: "/").last ?? ""
        if !last.contains(":") && !last.contains("@") { name += ":latest" }
        return name
    }

    private mutating func redraw(final: Bool = false) {
        let now = BuildKitStyleProgress.now()
        let finished = vertexes.filter { $0.ended != nil }.count
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        var lines = ["[+] Building \(Out.fixed(now - begun, 1))s (\(finished)/\(vertexes.count))\(final ? " FINISHED" : "")"]
        for v in vertexes {
            let t = Out.fixed((v.ended ?? now) - v.started, 1)
            let mark = v.state == .cached ? "CACHED" : v.state == .failed ? "ERROR" : t + "s"
            lines.append(String(" => \(v.state == .cached ? "CACHED " : "")\(v.title)".prefix(100)) + "  " + mark)
            if v.ended == nil || v.state == .failed { for l in v.log.suffix(6) { lines.append(String(" => > \(l)".prefix(120))) } }
        }
        for l in lines { out += "\r\u{1B}[2K" + l + "\n" }
        // A shorter list than last time: clear what is left below.
        if lines.count < drawn { out += String(repeating: "\u{1B}[2K\n", count: drawn - lines.count) + "\u{1B}[\(drawn - lines.count)A" }
        drawn = lines.count
        emit(out)
    }
}
