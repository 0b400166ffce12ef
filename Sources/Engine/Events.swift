import Foundation
import JSON
import Sys

/// One event as the Engine API streams it.
public struct Event: Sendable {
    public var type: String  // container | image
    public var action: String
    public var actorID: String
    public var attributes: [String: String]
    public var from: String?
    public var time: Timestamp

    public var json: JSON {
        var j: JSON = [:]
        if type == "container" || type == "image" { j["status"] = .string(action); j["id"] = .string(actorID) }
        if let from { j["from"] = .string(from) }
        j["Type"] = .string(type)
        j["Action"] = .string(action)
        j["Actor"] = ["ID": .string(actorID), "Attributes": JSON.stringMap(attributes)]
        j["scope"] = "local"
        j["time"] = .int(time.seconds)
        j["timeNano"] = .int(time.nanos)
        return j
    }

    /// Docker's filters: type, container (id or name), image, event, label.
    public func matches(_ f: [String: [String]]) -> Bool {
        if let t = f["type"], !t.contains(type) { return false }
        if let e = f["event"], !e.contains(where: { action == $0 || action.hasPrefix($0 + ":") }) { return false }
        if let c = f["container"] {
            guard type == "container" else { return false }
            if !c.contains(where: { actorID.hasPrefix($0) || attributes["name"] == $0 }) { return false }
        }
        if let i = f["image"] {
            let image = type == "image" ? actorID : (attributes["image"] ?? "")
            if !i.contains(where: { image == $0 || image.hasPrefix($0 + ":") || attributes["name"] == $0 }) { return false }
        }
        if let l = f["label"], !DockerShapes.matchLabels(attributes, l) { return false }
        return true
    }
}

/// Recent events (for `since`) and live subscribers.
public final class EventBus: @unchecked Sendable {
    private let lock = NSLock()
    private var recent: [Event] = []
    private var subscribers: [UInt64: @Sendable (Event) -> Void] = [:]
    private var next: UInt64 = 0
    private let keep = 1024

    public init() {}

    public func publish(_ e: Event) {
        lock.lock()
        recent.append(e)
        if recent.count > keep { recent.removeFirst(recent.count - keep) }
        let subs = Array(subscribers.values)
        lock.unlock()
        for s in subs { s(e) }
    }

    /// Subscribes and returns the stored events since `since`, atomically (none lost, none twice).
    public func subscribe(since: Timestamp?, _ s: @escaping @Sendable (Event) -> Void) -> (UInt64, [Event]) {
        lock.lock(); defer { lock.unlock() }
        next += 1
        subscribers[next] = s
        let past = since.map { t in recent.filter { $0.time >= t } } ?? []
        return (next, past)
    }

    public func unsubscribe(_ id: UInt64) { lock.lock(); subscribers[id] = nil; lock.unlock() }
}

extension Engine {
    func emit(_ c: Container, _ action: String, extra: [String: String] = [:]) {
        var attrs = c.labels
        attrs["image"] = c.imageRef
        attrs["name"] = c.name
        for (k, v) in extra { attrs[k] = v }
        events.publish(Event(type: "container", action: action, actorID: c.id, attributes: attrs, from: c.imageRef, time: .now()))
    }

    nonisolated func emitImage(_ action: String, _ ref: String, name: String? = nil) {
        events.publish(Event(type: "image", action: action, actorID: ref, attributes: ["name": name ?? ref], from: nil, time: .now()))
    }
}
