import Client
import Glibc
import JSON
import Sys

extension Berth {
    func systemDF(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-v", "--verbose"), FlagSpec("--format", value: true)])
        let d = try client.request("GET", "/system/df").json
        let images = d["Images"].array ?? [], containers = d["Containers"].array ?? []
        let activeImages = images.filter { ($0["Containers"].int ?? 0) > 0 }
        let imgSize = d["LayersSize"].int ?? 0
        let activeSize = activeImages.reduce(Int64(0)) { $0 + ($1["Size"].int ?? 0) - ($1["SharedSize"].int ?? 0) }
        let rw = containers.reduce(Int64(0)) { $0 + ($1["SizeRw"].int ?? 0) }
        let stoppedRw = containers.filter { $0["State"].string != "running" }.reduce(Int64(0)) { $0 + ($1["SizeRw"].int ?? 0) }
        func pct(_ part: Int64, _ whole: Int64) -> String { whole > 0 ? " (\(Int(Double(part) / Double(whole) * 100))%)" : "" }
        let reclaimImg = max(0, imgSize - activeSize)
        let vols = d["Volumes"].array ?? []
        let activeVols = vols.filter { ($0["UsageData"]["RefCount"].int ?? 0) > 0 }
        let volSize = vols.reduce(Int64(0)) { $0 + ($1["UsageData"]["Size"].int ?? 0) }
        let activeVolSize = activeVols.reduce(Int64(0)) { $0 + ($1["UsageData"]["Size"].int ?? 0) }
        let summary = [
            ["Images", String(images.count), String(activeImages.count), Out.humanSize(imgSize), Out.humanSize(reclaimImg) + pct(reclaimImg, imgSize)],
            [
                "Containers", String(containers.count), String(containers.filter { $0["State"].string == "running" }.count), Out.humanSize(rw),
                Out.humanSize(stoppedRw) + pct(stoppedRw, rw),
            ],
            [
                "Local Volumes", String(vols.count), String(activeVols.count), Out.humanSize(volSize),
                Out.humanSize(volSize - activeVolSize) + pct(volSize - activeVolSize, volSize),
            ],
            ["Build Cache", "0", "0", "0B", "0B"],
        ]
        // `--format` (it was parsed and ignored): the docker CLI's fields for the summary rows.
        if let format = f.string("format"), !f.bool("verbose") {
            let keys = ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
            let rows: [JSON] = summary.map { r in
                var o = JSONObject()
                for (k, v) in zip(keys, r) { o[k] = .string(v) }
                return .object(o)
            }
            let header: JSON = ["Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"]
            try Formatter(format: format == "table" ? "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}" : format, header: header)
                .print(rows)
            return 0
        }
        Out.table([["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]] + summary)
        if f.bool("verbose") {
            Out.print("\nImages space usage:\n")
            var rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
            for i in images {
                let tag = (i["RepoTags"].stringArray ?? ["<none>:<none>"]).first ?? "<none>:<none>"
                let colon = tag.lastIndex(of: ":") ?? tag.endIndex
                let size = i["Size"].int ?? 0, shared = i["SharedSize"].int ?? 0
                rows.append([
                    String(tag[..<colon]), colon < tag.endIndex ? String(tag[tag.index(after: colon)...]) : "<none>",
                    String((i["Id"].string ?? "").dropFirst(7).prefix(12)), Out.ago(i["Created"].int ?? 0), Out.humanSize(size),
                    Out.humanSize(shared), Out.humanSize(size - shared), String(i["Containers"].int ?? 0),
                ])
            }
            Out.table(rows)
            Out.print("\nContainers space usage:\n")
            let containerRows = containers.map { Rows.container($0, trunc: true) }
            try Formatter(
                format: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
                header: Rows.psHeader
            ).print(containerRows)
        }
        return 0
    }

    func systemPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-a", "--all"), FlagSpec("-f", "--force"), FlagSpec("--volumes"), FlagSpec("--filter", value: true)])
        if !f.bool("force") {
            let images = f.bool("all") ? "all images without at least one container associated to them" : "all dangling images"
            let warning =
                "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
                + (f.bool("volumes") ? "  - all volumes not used by at least one container\n" : "")
                + "  - \(images)\n  - all build cache\n\nAre you sure you want to continue? [y/N] "
            Out.raw(1, Array(warning.utf8))
            var b = [UInt8](repeating: 0, count: 16)
            guard read(0, &b, 16) > 0, b[0] == UInt8(ascii: "y") || b[0] == UInt8(ascii: "Y") else { return 0 }
        }
        var q: [(String, String)] = []
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        // The docker CLI's order: containers, networks, volumes, images.
        let c = try client.request("POST", "/containers/prune" + DaemonClient.query(q)).json
        let n = try client.request("POST", "/networks/prune" + DaemonClient.query(q)).json
        var volumes: JSON = [:]
        if f.bool("volumes") { volumes = try client.request("POST", "/volumes/prune" + DaemonClient.query(q)).json }
        var iq = q
        if f.bool("all") { iq = [("filters", try filterJSON(f.list("filter") + ["dangling=false"])!)] }
        let i = try client.request("POST", "/images/prune" + DaemonClient.query(iq)).json
        let reclaimed = [c, volumes, i].reduce(Int64(0)) { $0 + ($1["SpaceReclaimed"].int ?? 0) }
        Berth.printPruned(containers: c, networks: n, volumes: volumes, images: i)
        Out.print("Total reclaimed space: " + Out.humanSize(reclaimed))
        return 0
    }
}

extension Berth {
    /// `system dial-stdio`: stdin to the daemon's socket and the socket to stdout, until both
    /// ends close. The docker CLI's `ssh://` transport runs `docker system dial-stdio` on the
    /// remote host; this is Berth's end of it.
    func systemDialStdio(_ args: [String]) throws -> Int32 {
        guard args.isEmpty else { throw CLIError("\"berth system dial-stdio\" accepts no arguments", code: 1) }
        let fd: Int32
        do { fd = try UnixSocket.connect(client.socketPath) } catch {
            throw CLIError("Cannot connect to the Docker daemon at unix://\(client.socketPath). Is the docker daemon running?", code: 1)
        }
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        var buf = [UInt8](repeating: 0, count: 65536)
        while fds[1].fd >= 0 {
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[0].fd >= 0 && fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n > 0 {
                    do { try buf.withUnsafeBytes { try FS.writeAll(fd: fd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) } } catch { break }
                } else if n == 0 || errno != EINTR && errno != EAGAIN {
                    // The client is done sending: half-close toward the daemon, keep reading.
                    shutdown(fd, Int32(SHUT_WR))
                    fds[0].fd = -1
                }
            }
            if fds[1].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    do { try buf.withUnsafeBytes { try FS.writeAll(fd: 1, UnsafeRawBufferPointer(rebasing: $0[0..<n])) } } catch { break }
                } else if n == 0 || errno != EINTR && errno != EAGAIN {
                    fds[1].fd = -1
                }
            }
        }
        close(fd)
        return 0
    }
}
