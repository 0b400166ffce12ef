import DockerAPI
import Foundation
import JSON
import Runtime
import Sys

/// `State.Health`: Docker's health-check state machine.
public struct HealthState: Sendable {
    public var status = "starting"
    public var failingStreak = 0
    public var log: [HealthcheckResult] = []

    var response: HealthResponse { HealthResponse(status: status, failingStreak: failingStreak, log: log) }
}

struct HealthConfig {
    var test: [String]
    var interval: Double
    var timeout: Double
    var retries: Int
    var startPeriod: Double
    /// Between probes during the start period while still `starting` (API 1.44; Docker's 5 s).
    var startInterval: Double

    /// nil when there is no check (none configured, or `NONE`).
    init?(_ h: HealthcheckConfig?) {
        guard let h, let t = h.test, let kind = t.first, kind != "NONE" else { return nil }
        switch kind {
        case "CMD": test = Array(t.dropFirst())
        case "CMD-SHELL": test = ["/bin/sh", "-c", t.dropFirst().joined(separator: " ")]
        default: test = t
        }
        guard !test.isEmpty else { return nil }
        func secs(_ n: Int64, _ d: Double) -> Double { n > 0 ? Double(n) / 1e9 : d }
        interval = secs(h.interval, 30)
        timeout = secs(h.timeout, 30)
        startPeriod = secs(h.startPeriod, 0)
        startInterval = secs(h.startInterval, 5)
        retries = h.retries > 0 ? h.retries : 3
    }
}

extension Engine {
    func startHealthMonitor(_ id: String) {
        guard let c = containers[id], let hc = HealthConfig(c.config.healthcheck) else { return }
        health[id] = HealthState()
        let started = Date()
        healthTasks[id]?.cancel()
        healthTasks[id] = Task { [weak self] in
            while !Task.isCancelled {
                var starting = false
                if Date().timeIntervalSince(started) < hc.startPeriod { starting = await self?.healthStatus(id) == "starting" }
                try? await Task.sleep(nanoseconds: UInt64((starting ? hc.startInterval : hc.interval) * 1e9))
                guard let self, !Task.isCancelled, await self.isRunning(id) else { return }
                let result = await self.runProbe(id, hc)
                await self.recordProbe(id, hc, result, inStartPeriod: Date().timeIntervalSince(started) < hc.startPeriod)
            }
        }
    }

    func healthStatus(_ id: String) -> String { health[id]?.status ?? "" }

    func stopHealthMonitor(_ id: String) {
        healthTasks[id]?.cancel()
        healthTasks[id] = nil
    }

    /// Runs the check command like an exec; a run past the timeout counts as a failure.
    func runProbe(_ id: String, _ hc: HealthConfig) async -> (code: Int32, output: String, start: Timestamp, end: Timestamp) {
        let start = Timestamp.now()
        guard let c = containers[id] else { return (-1, "container gone", start, .now()) }
        let pidFile = dir(id) + "/health-\(UInt32.random(in: 0...UInt32.max)).pid"
        let command: ExecHelperCommand
        do {
            let base = try execBase(c)
            var process = base.process
            process["args"] = JSON.strings(hc.test)
            process["terminal"] = false
            process["consoleSize"] = nil
            command = execHelperCommand(c, base: base, process: process, pidFile: pidFile)
        } catch { return (-1, "\(error)", start, .now()) }
        let output = TailBuffer()
        let proc = ExecProcess()
        let code: Int32 = await withCheckedContinuation { (cont: CheckedContinuation<Int32, Never>) in
            let once = OnceFlag()
            do {
                try proc.start(
                    argv: command.argv, env: command.env, openStdin: false,
                    onOutput: { _, b in output.append(b) }, onExit: { code in if once.first() { cont.resume(returning: code) } })
            } catch {
                if once.first() { cont.resume(returning: -1) }
                return
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(hc.timeout * 1e9))
                if once.first() {
                    // The check itself, then its helper (which would wait for it otherwise).
                    if let pid = (try? FS.readString(pidFile)).flatMap({ Int32($0.trimmingSpaces()) }), pid > 0 { Glibc.kill(pid, SIGKILL) }
                    if proc.pid > 0 { Glibc.kill(proc.pid, SIGKILL) }
                    cont.resume(returning: -1)
                }
            }
        }
        unlink(pidFile)
        let text = code == -1 && output.text.isEmpty ? "Health check exceeded timeout (\(Int(hc.timeout))s)" : output.text
        return (code, text, start, .now())
    }

    func recordProbe(_ id: String, _ hc: HealthConfig, _ r: (code: Int32, output: String, start: Timestamp, end: Timestamp), inStartPeriod: Bool) {
        guard var h = health[id], let c = containers[id], c.state.running else { return }
        let before = h.status
        h.log.append(HealthcheckResult(start: r.start.goRFC3339Nano, end: r.end.goRFC3339Nano, exitCode: Int(r.code), output: r.output))
        if h.log.count > 5 { h.log.removeFirst(h.log.count - 5) }
        if r.code == 0 {
            h.status = "healthy"
            h.failingStreak = 0
        } else if !inStartPeriod {
            h.failingStreak += 1
            if h.failingStreak >= hc.retries { h.status = "unhealthy" }
        }
        health[id] = h
        if h.status != before { emit(c, "health_status: " + h.status) }
    }
}

/// True exactly once.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func first() -> Bool { lock.lock(); defer { lock.unlock() }; if done { return false }; done = true; return true }
}

extension Engine {
    public func healthStatuses() -> [String: String] { health.mapValues(\.status) }
}

/// The last few KiB of a check's output (what `State.Health.Log` keeps).
final class TailBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ b: [UInt8]) { lock.lock(); bytes += b; if bytes.count > 4096 { bytes.removeFirst(bytes.count - 4096) }; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: bytes, as: UTF8.self) }
}
