import Archive
import BuildKitAPI
import Foundation
import Sys

/// The receiving end of fsutil's DiffCopy protocol (BuildKit's FileSync), writing what the
/// client sends as a tar for Berth's builder. The client walks its directory and sends one STAT
/// per entry (IDs count every entry from 0), then an empty STAT; the receiver asks for each
/// regular file's bytes with REQ(id), gets DATA(id) chunks and an empty DATA at its end; FIN
/// from the receiver ends it, and the sender answers FIN.
///
/// Everything here comes from the client and is hostile: paths must be relative and clean (no
/// `..`, no empty or `.` components), sizes are range-checked and a file's DATA must add up to
/// its STAT's size exactly, entries and bytes are bounded. Files are asked for a window at a time
/// (the sink's: one for a tar, several for a directory), so DATA for anything but a file asked
/// for is an error and nothing is buffered in memory.
public struct FileSyncReceiver {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case protocolError(String)
        case fromSender(String)
        public var description: String {
            switch self {
            case .protocolError(let m): return "file sync: \(m)"
            case .fromSender(let m): return "error from sender: \(m)"
            }
        }
    }

    /// What the receiver wants sent next, and whether the transfer is complete.
    public struct Step: Equatable {
        public var send: [Fsutil_Types_Packet] = []
        public var done = false
    }

    public static let maxEntries = 1_000_000
    public static let maxFileSize: Int64 = 1 << 40
    public static let maxPathBytes = 4096

    private struct Item { var stat: Fsutil_Types_Stat; var id: UInt32 }
    private var items: [Item] = []
    private var walkEnded = false
    private var nextItem = 0
    /// The files asked for and not yet ended: size and bytes so far, by id.
    private var inFlight: [UInt32: (size: Int64, received: Int64)] = [:]
    private var finSent = false
    private let sink: ContextSink
    /// The names the walk sent, with whether each is a directory (a hard link's target must
    /// be a file sent before it).
    private var seen: [String: Bool] = [:]
    public private(set) var bytesReceived: Int64 = 0
    public var entryCount: Int { items.count }

    public init(tar: TarWriter) {
        sink = TarSink(tar)
    }

    init(sink: ContextSink) {
        self.sink = sink
    }

    /// Files the daemon held already (not asked for).
    public private(set) var reused = 0

    // Go's os.FileMode bits, as fsutil sends them in Stat.mode.
    static let modeDir: UInt32 = 1 << 31
    static let modeSymlink: UInt32 = 1 << 27
    static let modeDevice: UInt32 = 1 << 26
    static let modeNamedPipe: UInt32 = 1 << 25
    static let modeSocket: UInt32 = 1 << 24
    static let modeSetuid: UInt32 = 1 << 23
    static let modeSetgid: UInt32 = 1 << 22
    static let modeCharDevice: UInt32 = 1 << 21
    static let modeSticky: UInt32 = 1 << 20
    static let modeIrregular: UInt32 = 1 << 19
    static let typeBits = modeDir | modeSymlink | modeDevice | modeNamedPipe | modeSocket | modeCharDevice | modeIrregular

    /// Unix permission bits (with setuid, setgid, sticky) of a Go FileMode.
    static func permissions(_ m: UInt32) -> Int {
        var p = Int(m & 0o777)
        if m & modeSetuid != 0 { p |= 0o4000 }
        if m & modeSetgid != 0 { p |= 0o2000 }
        if m & modeSticky != 0 { p |= 0o1000 }
        return p
    }

    static func isRegular(_ m: UInt32) -> Bool { m & typeBits == 0 }

    /// A path as the walk may name it: relative, `/`-separated, each component a real name.
    static func validPath(_ p: String) -> Bool {
        if p.isEmpty || p.utf8.count > maxPathBytes || p.hasPrefix("/") || p.utf8.contains(0) { return false }
        return p.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    public mutating func receive(_ p: Fsutil_Types_Packet) throws(Failure) -> Step {
        switch p.type {
        case .packetErr:
            throw .fromSender(String(decoding: p.data.prefix(4096), as: UTF8.self))
        case .packetStat:
            if walkEnded { throw .protocolError("STAT after the end of the walk") }
            if !p.hasStat {
                walkEnded = true
                return try advance()
            }
            try accept(p.stat)
            return Step()
        case .packetData:
            guard let cur = inFlight[p.id] else { throw .protocolError("DATA for file \(p.id), which was not asked for") }
            if p.data.isEmpty {
                if cur.received != cur.size {
                    throw .protocolError("file \(p.id) changed while it was sent: \(cur.received) bytes for a size of \(cur.size)")
                }
                let stat = items[Int(p.id)].stat
                do { try sink.end(p.id, stat, perm: Self.permissions(stat.mode)) } catch {
                    throw .protocolError("writing the context: \(error)")
                }
                inFlight[p.id] = nil
                return try advance()
            }
            let n = Int64(p.data.count)
            if cur.received + n > cur.size {
                throw .protocolError("file \(p.id) changed while it was sent: more than its size of \(cur.size) bytes")
            }
            let bytes = Array(p.data)
            do { try sink.write(p.id, bytes) } catch { throw .protocolError("writing the context: \(error)") }
            inFlight[p.id] = (cur.size, cur.received + n)
            bytesReceived += n
            return Step()
        case .packetFin:
            if !finSent { throw .protocolError("FIN before the transfer ended") }
            return Step(done: true)
        case .packetReq:
            throw .protocolError("the sender asked for a file")
        case .UNRECOGNIZED(let n):
            throw .protocolError("unknown packet type \(n)")
        }
    }

    private mutating func accept(_ s: Fsutil_Types_Stat) throws(Failure) {
        let id = UInt32(items.count)
        guard items.count < Self.maxEntries else { throw .protocolError("more than \(Self.maxEntries) entries") }
        guard Self.validPath(s.path) else { throw .protocolError("invalid path \(String(reflecting: String(s.path.prefix(200))))") }
        guard seen[s.path] == nil else { throw .protocolError("\(s.path) sent twice") }
        if let slash = s.path.lastIndex(of: "/"), seen[String(s.path[..<slash])] != true {
            throw .protocolError("\(s.path) sent before its directory")
        }
        guard s.size >= 0, s.size <= Self.maxFileSize else { throw .protocolError("\(s.path): size \(s.size) out of range") }
        guard s.linkname.utf8.count <= Self.maxPathBytes, !s.linkname.utf8.contains(0) else {
            throw .protocolError("\(s.path): invalid link target")
        }
        if Self.isRegular(s.mode), !s.linkname.isEmpty, seen[s.linkname] != false {
            throw .protocolError("\(s.path): hard link to \(s.linkname), which is not a file sent before it")
        }
        seen[s.path] = s.mode & Self.modeDir != 0
        items.append(Item(stat: s, id: id))
    }

    /// Writes entries in walk order, asking for regular files' bytes (REQ) until the sink's
    /// window of files is in flight; when all are written and received, FIN.
    private mutating func advance() throws(Failure) -> Step {
        var asked: [Fsutil_Types_Packet] = []
        while nextItem < items.count && inFlight.count < max(1, sink.window) {
            let item = items[nextItem]
            nextItem += 1
            let s = item.stat
            let perm = Self.permissions(s.mode)
            do {
                if s.mode & Self.modeDir != 0 {
                    try sink.directory(s, perm: perm)
                } else if s.mode & Self.modeSymlink != 0 {
                    try sink.symlink(s)
                } else if s.mode & Self.modeNamedPipe != 0 {
                    try sink.fifo(s, perm: perm)
                } else if s.mode & (Self.modeSocket | Self.modeDevice | Self.modeIrregular) != 0 {
                    // Sockets and devices are not build context (the legacy CLI skips them too).
                    continue
                } else if !s.linkname.isEmpty {
                    try sink.hardlink(s, perm: perm)
                } else if sink.unchanged(s) {
                    try sink.kept(s, perm: perm)
                    reused += 1
                } else {
                    try sink.begin(item.id, s, perm: perm)
                    inFlight[item.id] = (s.size, 0)
                    var req = Fsutil_Types_Packet()
                    req.type = .packetReq
                    req.id = item.id
                    asked.append(req)
                }
            } catch let e as Failure {
                throw e
            } catch { throw .protocolError("writing the context: \(error)") }
        }
        if !asked.isEmpty || !inFlight.isEmpty { return Step(send: asked) }
        do { try sink.finish() } catch { throw .protocolError("writing the context: \(error)") }
        finSent = true
        var fin = Fsutil_Types_Packet()
        fin.type = .packetFin
        return Step(send: [fin])
    }
}
