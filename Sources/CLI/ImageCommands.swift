import Client
import Glibc
import JSON
import Sys

extension Berth {
    func images(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-a", "--all"), FlagSpec("-q", "--quiet"), FlagSpec("--no-trunc"), FlagSpec("--digests"),
                FlagSpec("-f", "--filter", value: true), FlagSpec("--format", value: true),
            ])
        var filters = f.list("filter")
        if let repo = f.positionals.first { filters.append("reference=" + repo) }
        var q: [(String, String)] = []
        if f.bool("all") { q.append(("all", "1")) }
        if let j = try filterJSON(filters) { q.append(("filters", j)) }
        let list = try client.request("GET", "/images/json" + DaemonClient.query(q)).json.array ?? []
        let noTrunc = f.bool("no-trunc")
        func shortID(_ id: String) -> String { noTrunc ? id : String(id.dropFirst(7).prefix(12)) }
        if f.bool("quiet") {
            var seen = Set<String>()
            for i in list { let id = shortID(i["Id"].string ?? ""); if seen.insert(id).inserted { Out.print(id) } }
            return 0
        }
        let digests = f.bool("digests")
        var rows: [JSON] = []
        for i in list {
            var tags = i["RepoTags"].stringArray ?? []
            if tags.isEmpty { tags = ["<none>:<none>"] }
            let repoDigests = (i["RepoDigests"].stringArray ?? []).filter { $0 != "<none>@<none>" }
            for t in tags {
                let colon = t.lastIndex(of: ":") ?? t.endIndex
                let repo = String(t[..<colon]), tag = colon < t.endIndex ? String(t[t.index(after: colon)...]) : "<none>"
                let digest = repoDigests.first { $0.hasPrefix(repo + "@") }.map { String($0[$0.firstIndex(of: "@")!...].dropFirst()) } ?? "<none>"
                rows.append(Rows.image(i, repo: repo, tag: tag, digest: digest, trunc: !noTrunc))
            }
        }
        var format = f.string("format") ?? (digests ? Rows.imagesDigestFormat : Rows.imagesFormat)
        if format == "table" { format = digests ? Rows.imagesDigestFormat : Rows.imagesFormat }
        try Formatter(format: format, header: Rows.imagesHeader).print(rows)
        return 0
    }

    func tag(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard f.positionals.count == 2 else { throw CLIError("\"tag\" requires exactly 2 arguments.") }
        var target = f.positionals[1]
        var tag = ""
        if let colon = target.lastIndex(of: ":"), !target[colon...].contains("/") {
            tag = String(target[target.index(after: colon)...]); target = String(target[..<colon])
        }
        _ = try client.request("POST", "/images/\(f.positionals[0])/tag" + DaemonClient.query([("repo", target), ("tag", tag)]))
        return 0
    }

    func rmi(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force"), FlagSpec("--no-prune")])
        guard !f.positionals.isEmpty else { throw CLIError("\"rmi\" requires at least 1 argument.") }
        var q: [(String, String)] = []
        if f.bool("force") { q.append(("force", "1")) }
        if f.bool("no-prune") { q.append(("noprune", "1")) }
        var failed = false
        for ref in f.positionals {
            do {
                for item in try client.request("DELETE", "/images/\(ref)" + DaemonClient.query(q)).json.array ?? [] {
                    if let u = item["Untagged"].string { Out.print("Untagged: " + u) }
                    if let d = item["Deleted"].string { Out.print("Deleted: " + d) }
                }
            } catch { Out.err("\(error)"); failed = true }
        }
        return failed ? 1 : 0
    }

    func importImage(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-c", "--change", value: true), FlagSpec("-m", "--message", value: true), FlagSpec("--platform", value: true)])
        guard let src = f.positionals.first else { throw CLIError("\"import\" requires at least 1 argument.") }
        // A URL is fetched by the daemon, as with the docker CLI; a file or `-` is uploaded.
        let isURL = src.hasPrefix("http://") || src.hasPrefix("https://")
        var q: [(String, String)] = [("fromSrc", isURL ? src : "-")]
        if f.positionals.count > 1 {
            var repo = f.positionals[1], tag = ""
            if let colon = repo.lastIndex(of: ":"), !repo[colon...].contains("/") {
                tag = String(repo[repo.index(after: colon)...]); repo = String(repo[..<colon])
            }
            q += [("repo", repo), ("tag", tag)]
        }
        if let m = f.string("message") { q.append(("message", m)) }
        for c in f.list("change") { q.append(("changes", c)) }
        if let p = f.platform() { q.append(("platform", p)) }  // it was dropped
        let r: Response
        if isURL {
            r = try client.request("POST", "/images/create" + DaemonClient.query(q))
        } else {
            let fd = src == "-" ? 0 : open(src, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIError("open \(src): no such file or directory") }
            defer { if fd != 0 { close(fd) } }
            r = try client.request("POST", "/images/create" + DaemonClient.query(q), bodyFile: fd, contentType: "application/x-tar")
        }
        for m in (try? JSON.parseStream(r.body)) ?? [] {
            if let e = m["error"].string { throw CLIError(e) }
            if let s = m["status"].string { Out.print(s) }
        }
        return 0
    }

    func save(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-o", "--output", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"save\" requires at least 1 argument.") }
        var fd: Int32 = 1
        var tmp: String? = nil
        if let out = f.string("output") {
            tmp = out + ".tmp"
            fd = open(tmp!, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CLIError("failed to save image: \(SysError("open \(out)"))") }
        } else if isatty(1) != 0 {
            throw CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
        var failure: Error? = nil
        do {
            try client.stream("GET", "/images/get" + DaemonClient.query(f.positionals.map { ("names", $0) })) { b in
                do { try FS.writeAll(fd: fd, b); return true } catch { failure = error; return false }
            }
        } catch { failure = error }
        if let tmp {
            close(fd)
            if failure == nil { Glibc.rename(tmp, f.string("output")!) } else { unlink(tmp) }
        }
        if let failure { throw failure }
        return 0
    }

    func load(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-i", "--input", value: true), FlagSpec("-q", "--quiet")])
        let fd = f.string("input").map { open($0, O_RDONLY | O_CLOEXEC) } ?? 0
        guard fd >= 0 else { throw CLIError("open \(f.string("input")!): no such file or directory") }
        if fd == 0 && isatty(0) != 0 { throw CLIError("requested load from stdin, but stdin is empty") }
        let r = try client.request("POST", "/images/load" + (f.bool("quiet") ? "?quiet=1" : ""), bodyFile: fd, contentType: "application/x-tar")
        for m in (try? JSON.parseStream(r.body)) ?? [] {
            if let e = m["error"].string { throw CLIError(e) }
            if let s = m["stream"].string { Out.raw(1, Array(s.utf8)) }
        }
        return 0
    }
}

extension Berth {
    func history(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-H", "--human"), FlagSpec("-q", "--quiet"), FlagSpec("--no-trunc"), FlagSpec("--format", value: true)])
        guard f.positionals.count == 1 else { throw CLIError("\"history\" requires exactly 1 argument.") }
        let rows = try client.request("GET", "/images/\(f.positionals[0])/history").json.array ?? []
        let noTrunc = f.bool("no-trunc")
        let human = f.string("human").map { $0 != "false" } ?? true
        func id(_ r: JSON) -> String {
            let s = r["Id"].string ?? ""
            return s.hasPrefix("sha256:") && !noTrunc ? String(s.dropFirst(7).prefix(12)) : s
        }
        if f.bool("quiet") { for r in rows { Out.print(id(r)) }; return 0 }
        var format = f.string("format") ?? (human ? Rows.historyFormat : Rows.historyNonHumanFormat)
        if format == "table" { format = human ? Rows.historyFormat : Rows.historyNonHumanFormat }
        try Formatter(format: format, header: Rows.historyHeader).print(rows.map { Rows.history($0, human: human, trunc: !noTrunc) })
        return 0
    }

    func imagePrune(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-a", "--all"), FlagSpec("-f", "--force"), FlagSpec("--filter", value: true)])
        if !f.bool("force") {
            let what = f.bool("all") ? "all images without at least one container associated to them" : "all dangling images"
            Out.raw(1, Array("WARNING! This will remove \(what).\nAre you sure you want to continue? [y/N] ".utf8))
            var b = [UInt8](repeating: 0, count: 16)
            guard read(0, &b, 16) > 0, b[0] == UInt8(ascii: "y") || b[0] == UInt8(ascii: "Y") else { return 0 }
        }
        var filters = f.list("filter").map { item -> String in
            guard item.hasPrefix("until="), let t = try? TimeArg.parse(String(item.dropFirst(6))) else { return item }
            return "until=" + t
        }
        if f.bool("all") { filters.append("dangling=false") }
        var q: [(String, String)] = []
        if let j = try filterJSON(filters) { q.append(("filters", j)) }
        let r = try client.request("POST", "/images/prune" + DaemonClient.query(q)).json
        Berth.printPruned(images: r)
        Out.print("Total reclaimed space: " + Out.humanSize(r["SpaceReclaimed"].int ?? 0))
        return 0
    }

    /// The "Deleted Containers:" / "Deleted Images:" blocks of the prune commands.
    /// Prune results in the docker CLI's order and words (`system prune` prints every section).
    static func printPruned(containers: JSON? = nil, networks: JSON? = nil, volumes: JSON? = nil, images: JSON? = nil) {
        func section(_ title: String, _ lines: [String]) {
            guard !lines.isEmpty else { return }
            Out.print(title)
            for l in lines { Out.print(l) }
            Out.print("")
        }
        section("Deleted Containers:", containers?["ContainersDeleted"].stringArray ?? [])
        section("Deleted Networks:", networks?["NetworksDeleted"].stringArray ?? [])
        section("Deleted Volumes:", volumes?["VolumesDeleted"].stringArray ?? [])
        section(
            "Deleted Images:",
            (images?["ImagesDeleted"].array ?? []).flatMap { d in
                [d["Untagged"].string.map { "untagged: " + $0 }, d["Deleted"].string.map { "deleted: " + $0 }].compactMap { $0 }
            })
    }

    func search(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args, [FlagSpec("--limit", value: true), FlagSpec("--no-trunc"), FlagSpec("-f", "--filter", value: true), FlagSpec("--format", value: true)])
        guard f.positionals.count == 1 else { throw CLIError("\"search\" requires exactly 1 argument.") }
        var q: [(String, String)] = [("term", f.positionals[0])]
        if let l = f.string("limit") { q.append(("limit", l)) }
        // The filters go to the daemon (they were parsed and dropped), which checks them.
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        var headers: [(String, String)] = []
        if let auth = DockerConfig.registryAuthHeader(for: f.positionals[0]) { headers.append(("X-Registry-Auth", auth)) }
        let list = try client.request("GET", "/images/search" + DaemonClient.query(q), headers: headers).json.array ?? []
        let noTrunc = f.bool("no-trunc")
        let rows: [JSON] = list.map { r in
            var description = r["description"].string ?? ""
            if !noTrunc && description.count > 45 { description = String(description.prefix(44)) + "…" }
            return [
                "Name": .string(r["name"].string ?? ""), "Description": .string(description), "StarCount": .string(String(r["star_count"].int ?? 0)),
                "IsOfficial": .string(r["is_official"].bool == true ? "[OK]" : ""), "IsAutomated": .string(r["is_automated"].bool == true ? "[OK]" : ""),
            ]
        }
        var format = f.string("format") ?? Rows.searchFormat
        if format == "table" { format = Rows.searchFormat }
        try Formatter(format: format, header: Rows.searchHeader).print(rows)
        return 0
    }
}
