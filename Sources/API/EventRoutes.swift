import Engine
import Foundation
import JSON
import Sys

extension Router {
    /// `GET /events`: stored events since `since`, then live ones until `until` (or until the
    /// client goes), filtered; one JSON object per chunk.
    func events(_ req: Request, _ res: Responder) async throws {
        let f = try filters(req)
        func time(_ k: String) throws -> Timestamp? {
            guard let v = req.q(k), !v.isEmpty else { return nil }
            guard let t = Timestamp.parse(v) else { throw EngineError.badRequest("invalid value for \(k): \(v)") }
            return t
        }
        let since = try time("since"), until = try time("until")
        let (stream, send) = BoundedStream.make(Event?.self)
        let bus = engine.events
        let (sub, past) = bus.subscribe(since: since ?? (until != nil ? Timestamp.zero : nil)) { send($0) }
        defer { bus.unsubscribe(sub) }
        res.startStream(contentType: "application/json")
        for e in past where e.matches(f) {
            if let until, e.time > until { break }
            if !(await res.write(e.json.serializedBytes() + [10])) { return }
        }
        if let until, until <= Timestamp.now() { res.end(); return }
        // Wakes the loop once a second to notice a departed client or a passed `until`.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                send(nil)
            }
        }
        defer { ticker.cancel() }
        for await item in stream {
            if let until, Timestamp.now() > until { break }
            if !res.isActive { return }
            guard let e = item, e.matches(f) else { continue }
            if !(await res.write(e.json.serializedBytes() + [10])) { return }
        }
        res.end()
    }
}
