import API
import Dispatch
import Sys

/// Once the API has been quiet for a while, berthd hands back the code pages and heap it kept
/// from start-up or from the last burst (see `ResidentTrim`). `BERTH_IDLE_TRIM_SECONDS` sets the
/// quiet spell (default 10; 0 turns the trim off).
enum IdleTrim {
    static let variable = "BERTH_IDLE_TRIM_SECONDS"
    static let defaultSeconds = 10

    /// The quiet spell in seconds, nil when off; an out-of-range value is a start-up error.
    static func seconds(from value: String?) throws -> Int? {
        guard let value else { return defaultSeconds }
        guard let n = Int(value), (0...86_400).contains(n) else {
            throw DaemonConfig.ConfigError("\(variable) must be a number of seconds from 0 to 86400, not \(String(reflecting: value))")
        }
        return n == 0 ? nil : n
    }

    /// Ticks once a second on a Dispatch queue (never the engine's actor): reading smaps and
    /// madvise take about a millisecond.
    static func start(quietSeconds: Int) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        nonisolated(unsafe) var policy = IdleTrimPolicy(quietTicks: quietSeconds)
        timer.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(200))
        timer.setEventHandler {
            // The timer's handler never runs concurrently with itself, so the policy needs no lock.
            if policy.tick(requests: APIServer.requestsSeen.load(ordering: .relaxed)) { ResidentTrim.trimSelf() }
        }
        timer.resume()
        return timer
    }
}
