import CSys
import Glibc
import Sys
import Testing

@testable import BerthNet

/// The pool of network namespaces made ahead: distinct fresh namespaces, bound where asked.
@Suite struct NamespacePoolTests {
    func inode(_ path: String) -> UInt {
        var st = stat()
        return stat(path, &st) == 0 ? UInt(st.st_ino) : 0
    }

    @Test func readyNamespacesAreFreshAndEachBindsOnce() throws {
        guard getuid() == 0 else { return }
        let pool = NamespacePool(capacity: 2)
        pool.refill()
        for _ in 0..<500 where pool.ready < 2 { usleep(2000) }
        #expect(pool.ready == 2)
        let dir = "/tmp/berth-nspool-\(getpid())"
        try FS.mkdirAll(dir)
        defer {
            for n in ["a", "b"] { umount2(dir + "/" + n, Int32(MNT_DETACH)) }
            umount2(dir, Int32(MNT_DETACH))
            FS.removeAll(dir)
        }
        let a = try #require(pool.take())
        let b = try #require(pool.take())
        defer { close(a); close(b) }
        #expect(berth_netns_bind(a, dir, dir + "/a") == 0)
        #expect(berth_netns_bind(b, dir, dir + "/b") == 0)
        let own = inode("/proc/self/ns/net")
        #expect(inode(dir + "/a") != own && inode(dir + "/b") != own && inode(dir + "/a") != inode(dir + "/b"))
        #expect(inode("/proc/thread-self/ns/net") == own)  // the refilling thread came back; so did this one
        // A name already taken is refused, and nothing is left of the attempt.
        #expect(berth_netns_bind(a, dir, dir + "/a") != 0)
        pool.drain()
        #expect(pool.ready == 0)
        pool.refill()  // drained: stays empty
        usleep(20000)
        #expect(pool.ready == 0)
    }
}
