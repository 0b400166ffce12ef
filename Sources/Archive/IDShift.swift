/// Ids as a user-namespaced container sees them and as they are stored on the host
/// (`userns-remap`: container id N is host id start+N). Archives in and out of such a container
/// (`cp`, `commit`, `export`, build steps) are written and read in the container's ids.
public struct IDShift: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt32
    public init(uid: UInt32, gid: UInt32, size: UInt32) { self.uid = uid; self.gid = gid; self.size = size }

    /// The host id a container id is stored as; nil when the range does not hold it.
    public func hostUID(_ id: UInt32) -> UInt32? { id < size ? uid + id : nil }
    public func hostGID(_ id: UInt32) -> UInt32? { id < size ? gid + id : nil }

    /// The container id a stored host id shows as: the kernel's overflow id (65534) outside
    /// the range, as `ls -ln` in the container shows it.
    public func containerUID(_ host: UInt32) -> UInt32 { host >= uid && host - uid < size ? host - uid : 65534 }
    public func containerGID(_ host: UInt32) -> UInt32 { host >= gid && host - gid < size ? host - gid : 65534 }
}
