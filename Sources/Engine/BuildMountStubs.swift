import CSys
import Foundation
import Sys

extension Engine {
    /// After a RUN with mounts: the runtime created each mount's target (and missing parents)
    /// in the container's writable layer for the mount to land on; those empty stubs are not
    /// the step's work and stay out of its layer (a secret's name at /run/secrets included).
    /// The layer is walked one component at a time on descriptors, never following a link the
    /// step may have planted; only empty regular files and empty, non-opaque directories are
    /// removed, so nothing the step made and nothing it deleted from below is touched.
    func removeMountStubs(_ id: String, targets: [String]) {
        let upper = dir(id) + "/upper"
        guard let root = try? DirFD.openDirectory(upper) else { return }
        defer { close(root) }
        for target in targets.sorted(by: { $0.count > $1.count }) {
            let parts = MountParser.clean("/" + target).split(separator: "/").map(String.init)
            guard !parts.isEmpty else { continue }
            var chain: [Int32] = [root]
            defer { for fd in chain.dropFirst() { close(fd) } }
            var complete = true
            for p in parts.dropLast() {
                let fd = openat(chain.last!, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd < 0 {
                    complete = false
                    break
                }
                chain.append(fd)
            }
            guard complete else { continue }
            var name = parts.last!
            var level = chain.count - 1
            while level >= 0 {
                let parent = chain[level]
                guard let st = DirFD.lstat(parent, name) else { break }
                let kind = st.st_mode & S_IFMT
                if kind == S_IFREG {
                    guard st.st_size == 0, unlinkat(parent, name, 0) == 0 else { break }
                } else if kind == S_IFDIR {
                    let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard fd >= 0 else { break }
                    var v: [CChar] = [0, 0, 0, 0]
                    let opaque = fgetxattr(fd, OverlayXattrs.opaque, &v, 4) >= 0
                    close(fd)
                    guard !opaque, unlinkat(parent, name, AT_REMOVEDIR) == 0 else { break }
                } else {
                    break
                }
                // Up one: the parent, if the runtime made it just for this mount, is empty now.
                if level == 0 { break }
                name = parts[level - 1]
                level -= 1
            }
        }
    }
}
