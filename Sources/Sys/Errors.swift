import Glibc

/// A failed system call with what we were doing and the errno text.
public struct SysError: Error, Sendable, CustomStringConvertible {
    public let op: String
    public let errno: Int32
    public init(_ op: String, errno: Int32 = Glibc.errno) { self.op = op; self.errno = errno }
    public var description: String { "\(op): \(String(cString: strerror(errno)))" }
}
