import Sys

/// Whether a container's PID 1 can take a stop signal yet.
///
/// The kernel drops a signal sent to the first process of a PID namespace when that process has
/// the default action for it, even when it comes from the host: only SIGKILL and SIGSTOP always
/// reach it. A `stop` that comes right after the start (Kubernetes' sandbox stopped as soon as it
/// is made, a compose `up` then `down`) may arrive before the program has installed its handler;
/// the signal is then lost and the stop waits out its whole grace period before killing. dockerd
/// has the same race, hidden by its slower start. berthd looks at the process's signal masks
/// first and, for a short while after a start, waits for the program to become ready.
public enum SignalReadiness {
    /// From the text of `/proc/<pid>/status`: whether `signal` would be kept rather than dropped
    /// by a namespace's init: caught (a handler), ignored (nothing lost: it was never going to
    /// act), or blocked (queued until the program unblocks it: signalfd users such as systemd).
    /// nil when the masks are missing or malformed, or the signal is out of range.
    public static func wouldKeep(_ signal: Int32, status: String) -> Bool? {
        guard signal >= 1, signal <= 64 else { return nil }
        var masks: [Substring: UInt64] = [:]
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            guard key == "SigCgt" || key == "SigIgn" || key == "SigBlk" else { continue }
            let hex = String(line[line.index(after: colon)...]).trimmingSpaces()
            guard hex.count <= 16, let value = UInt64(hex, radix: 16) else { return nil }
            masks[key] = value
        }
        guard let caught = masks["SigCgt"], let ignored = masks["SigIgn"], let blocked = masks["SigBlk"] else { return nil }
        let bit = UInt64(1) << UInt64(signal - 1)
        return (caught | ignored | blocked) & bit != 0
    }

    /// Signals that always reach the process, whatever its dispositions.
    public static func alwaysDelivered(_ signal: Int32) -> Bool { signal == 9 || signal == 19 }
}
