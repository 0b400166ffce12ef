import BuildKitAPI
import Foundation
import JSON
import OCI
import SwiftProtobuf

/// Turns the builder's messages (the legacy stream: "Step N/M : …", the steps' output, " --->
/// Using cache") into BuildKit's status updates: one vertex per step, started and completed,
/// cached when taken from the cache, the step's output as its logs. What clients draw from
/// them (Compose v2, buildx) is BuildKit's usual build output.
public struct ProgressTranslator {
    let ref: String
    /// The running vertex of each stage (messages of stages built at once carry `stage`).
    private var current: [Int64: Moby_Buildkit_V1_Vertex] = [:]
    private var count = 0
    public private(set) var imageID: String?

    public init(ref: String) { self.ref = ref }

    static func now() -> Google_Protobuf_Timestamp { Google_Protobuf_Timestamp(date: Date()) }

    func digest(_ n: Int) -> String { Digest.of("berth:\(ref):\(n)").description }

    /// A new vertex (the stage's previous one completed first).
    public mutating func begin(_ name: String, cached: Bool = false, stage: Int64 = -1) -> [Moby_Buildkit_V1_StatusResponse] {
        var out = complete(stage: stage)
        count += 1
        var v = Moby_Buildkit_V1_Vertex()
        v.digest = digest(count)
        v.name = name
        v.started = Self.now()
        v.cached = cached
        current[stage] = v
        var r = Moby_Buildkit_V1_StatusResponse()
        r.vertexes = [v]
        out.append(r)
        return out
    }

    /// Completes the running vertexes (of one stage, or all), with an error if it failed.
    public mutating func complete(error: String? = nil, stage: Int64? = nil) -> [Moby_Buildkit_V1_StatusResponse] {
        let keys = stage.map { [$0] } ?? current.keys.sorted()
        var out: [Moby_Buildkit_V1_StatusResponse] = []
        for k in keys {
            guard var v = current.removeValue(forKey: k) else { continue }
            v.completed = Self.now()
            if let error { v.error = error }
            var r = Moby_Buildkit_V1_StatusResponse()
            r.vertexes = [v]
            out.append(r)
        }
        return out
    }

    public mutating func translate(_ msg: JSON) -> [Moby_Buildkit_V1_StatusResponse] {
        if let id = msg["aux"]["ID"].string { imageID = id }
        guard let text = msg["stream"].string else { return [] }
        let stage = msg["stage"].int ?? -1
        if let step = Self.stepTitle(text) { return begin(step, stage: stage) }
        if text.hasPrefix(" ---> Using cache") {
            current[stage]?.cached = true
            return []
        }
        if text.hasPrefix(" ---> ") || text.hasPrefix("Removing intermediate container ") || text.hasPrefix("Successfully ") { return [] }
        return log(text, stage: stage)
    }

    /// Output of a stage's running vertex.
    public func log(_ text: String, stage: Int64 = -1) -> [Moby_Buildkit_V1_StatusResponse] {
        guard let v = current[stage] else { return [] }
        var l = Moby_Buildkit_V1_VertexLog()
        l.vertex = v.digest
        l.timestamp = Self.now()
        l.stream = 1
        l.msg = Data(text.utf8)
        var r = Moby_Buildkit_V1_StatusResponse()
        r.logs = [l]
        return [r]
    }

    /// "Step 2/5 : RUN make\n" as BuildKit names it: "[2/5] RUN make".
    static func stepTitle(_ text: String) -> String? {
        guard text.hasPrefix("Step "), let colon = text.range(of: " : ") else { return nil }
        let counter = text[text.index(text.startIndex, offsetBy: 5)..<colon.lowerBound]
        guard counter.contains("/"), counter.allSatisfy({ $0.isNumber || $0 == "/" }) else { return nil }
        var rest = String(text[colon.upperBound...])
        while rest.hasSuffix("\n") { rest.removeLast() }
        return "[\(counter)] \(rest)"
    }
}

/// Status streams by build ref: a Solve publishes, any number of Status calls follow (from
/// the start: a Status may come first or late). Histories are bounded; a finished build's is
/// kept a while for a late Status.
public actor BuildJobs {
    final class Job {
        var history: [Moby_Buildkit_V1_StatusResponse] = []
        var subscribers: [UUID: AsyncStream<Moby_Buildkit_V1_StatusResponse>.Continuation] = [:]
        var done = false
        var dropped = 0
    }
    private var jobs: [String: Job] = [:]
    private var finishedOrder: [String] = []
    public static let maxHistory = 20_000
    public static let keepFinished = 32
    public static let maxJobs = 1024

    public init() {}

    private func job(_ ref: String) -> Job {
        if let j = jobs[ref] { return j }
        let j = Job()
        if jobs.count < Self.maxJobs { jobs[ref] = j }
        return j
    }

    public func publish(_ ref: String, _ updates: [Moby_Buildkit_V1_StatusResponse]) {
        let j = job(ref)
        for u in updates {
            if j.history.count < Self.maxHistory { j.history.append(u) } else { j.dropped += 1 }
            for c in j.subscribers.values { c.yield(u) }
        }
    }

    public func finish(_ ref: String) {
        let j = job(ref)
        j.done = true
        for c in j.subscribers.values { c.finish() }
        j.subscribers = [:]
        finishedOrder.append(ref)
        while finishedOrder.count > Self.keepFinished { jobs[finishedOrder.removeFirst()] = nil }
    }

    /// Everything published for `ref` so far, then what follows until it finishes.
    public func subscribe(_ ref: String) -> AsyncStream<Moby_Buildkit_V1_StatusResponse> {
        let j = job(ref)
        let (stream, c) = AsyncStream<Moby_Buildkit_V1_StatusResponse>.makeStream(bufferingPolicy: .bufferingNewest(Self.maxHistory))
        for u in j.history { c.yield(u) }
        if j.done {
            c.finish()
            return stream
        }
        let key = UUID()
        j.subscribers[key] = c
        c.onTermination = { _ in Task { await self.unsubscribe(ref, key) } }
        return stream
    }

    private func unsubscribe(_ ref: String, _ key: UUID) { jobs[ref]?.subscribers[key] = nil }
}
