import CSys
import Dispatch
import Glibc
import Synchronization

/// Network namespaces made ahead of time. Making one (unshare: a loopback device, sysctl
/// tables, the namespace's own netfilter state) is the dearest step of a container's network,
/// 0.6-0.8 ms measured here, and it ran on the engine's actor during every start. The pool keeps
/// a few ready, each held only by a descriptor (no mount, nothing under /run/netns, gone with
/// the daemon); a start binds one at its name in one mount call, and the pool refills in the
/// background. Empty (a burst of starts), a namespace is made on the spot as before.
public final class NamespacePool: Sendable {
    public static let shared = NamespacePool(capacity: 2)

    let capacity: Int
    private let spares = Mutex<[Int32]>([])
    private let refilling = Atomic<Bool>(false)
    /// Tests and the daemon's shutdown turn it off; makeNamespace then always unshares.
    private let enabled = Atomic<Bool>(true)

    init(capacity: Int) { self.capacity = capacity }

    /// A ready namespace's descriptor (the caller closes it), or nil when none is ready.
    func take() -> Int32? {
        let fd = spares.withLock { $0.popLast() }
        refill(after: Self.refillDelay)
        return fd
    }

    /// How long after a take the pool makes up for it: not while the start that took the
    /// namespace is still under way (as with berth-shim's spare; a second start in between finds
    /// the pool's other namespace).
    static let refillDelay: DispatchTimeInterval = .milliseconds(30)

    /// Makes namespaces until `capacity` are ready, off the caller's thread, after `delay`; one
    /// refill at a time.
    public func refill(after delay: DispatchTimeInterval = .never) {
        guard enabled.load(ordering: .relaxed), !refilling.exchange(true, ordering: .acquiring) else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: delay == .never ? .now() : .now() + delay) { [self] in
            defer { refilling.store(false, ordering: .releasing) }
            while enabled.load(ordering: .relaxed), spares.withLock({ $0.count }) < capacity {
                let fd = berth_netns_new()
                if fd < 0 { return }
                // A drain while this one was being made: it is not kept.
                let kept = spares.withLock { s -> Bool in
                    guard enabled.load(ordering: .relaxed) else { return false }
                    s.append(fd)
                    return true
                }
                if !kept { close(fd); return }
            }
        }
    }

    /// Closes every ready namespace (the kernel frees them) and stops refilling.
    public func drain() {
        enabled.store(false, ordering: .relaxed)
        let held = spares.withLock { s -> [Int32] in
            let all = s
            s = []
            return all
        }
        for fd in held { close(fd) }
    }

    public var ready: Int { spares.withLock { $0.count } }
}
