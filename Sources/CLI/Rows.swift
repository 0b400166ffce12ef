import GoTemplate
import JSON
import Sys

/// The docker CLI's formatter contexts as JSON rows: the field values `--format` templates see,
/// their table headers and default table formats. Keys are sorted because the CLI marshals these
/// contexts as maps for `{{json .}}`.
enum Rows {
    static func truncateID(_ id: String) -> String {
        var s = Substring(id)
        if let colon = s.firstIndex(of: ":") { s = s[s.index(after: colon)...] }
        return String(s.prefix(12))
    }

    /// formatter.Ellipsis: at most `n` characters, the last one `…` when cut.
    static func ellipsis(_ s: String, _ n: Int) -> String {
        let chars = Array(s)
        if chars.count <= n { return s }
        return String(chars.prefix(n - 1)) + "…"
    }

    static func sorted(_ pairs: [(String, JSON)]) -> JSON {
        var o = JSONObject()
        for (k, v) in pairs.sorted(by: { $0.0 < $1.0 }) { o[k] = v }
        return .object(o)
    }

    // MARK: ps

    static let psFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    static let psHeader: JSON = [
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
        "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
        "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
    ]

    static func container(_ c: JSON, trunc: Bool) -> JSON {
        let id = c["Id"].string ?? ""
        var names = (c["Names"].stringArray ?? []).map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
        if trunc { names = Array(names.filter { !$0.contains("/") }.prefix(1)) }
        var image = c["Image"].string ?? ""
        if image.isEmpty { image = "<no image>" } else if trunc, truncateID(c["ImageID"].string ?? "") == truncateID(image) { image = truncateID(image) }
        let command = c["Command"].string ?? ""
        let created = c["Created"].int ?? 0
        let labels = c["Labels"].stringMap ?? [:]
        let sizeRw = c["SizeRw"].int ?? 0, sizeRoot = c["SizeRootFs"].int ?? 0
        let mounts = (c["Mounts"].array ?? []).map { m -> String in
            let n = m["Name"].string.flatMap { $0.isEmpty ? nil : $0 } ?? m["Source"].string ?? ""
            return trunc ? ellipsis(n, 15) : n
        }
        return sorted([
            ("ID", .string(trunc ? truncateID(id) : id)),
            ("Names", .string(names.joined(separator: ","))),
            ("Image", .string(image)),
            ("Command", .string(GoFormat.quote(trunc ? ellipsis(command, 20) : command))),
            ("CreatedAt", .string(Timestamp(nanos: created * 1_000_000_000).goString)),
            ("RunningFor", .string(Out.ago(created))),
            ("Ports", .string(displayablePorts(c["Ports"].array ?? []))),
            ("State", .string(c["State"].string ?? "")),
            ("Status", .string(c["Status"].string ?? "")),
            ("Size", .string(Out.humanSize(sizeRw) + (sizeRoot > 0 ? " (virtual \(Out.humanSize(sizeRoot)))" : ""))),
            ("Labels", .string(labels.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))),
            ("Mounts", .string(mounts.joined(separator: ","))),
            ("LocalVolumes", .string(String((c["Mounts"].array ?? []).filter { $0["Driver"].string == "local" }.count))),
            ("Networks", .string((c["NetworkSettings"]["Networks"].object?.keys ?? []).joined(separator: ","))),
        ])
    }

    /// `.Label "name"` on a ps row.
    static func labelMethod(_ c: JSON) -> @Sendable ([JSON]) -> JSON {
        let labels = c["Labels"]
        return { args in .string(labels[args.first?.string ?? ""].string ?? "") }
    }

    /// formatter.DisplayablePorts: same-port mappings and exposed ports grouped into ranges
    /// (`0.0.0.0:80-81->80-81/tcp`, `53/udp`), then mappings to other host ports.
    static func displayablePorts(_ ports: [JSON]) -> String {
        struct Port { var ip: String; var priv: Int64; var pub: Int64; var type: String }
        let list = ports.map {
            Port(
                ip: $0["IP"].string ?? "", priv: $0["PrivatePort"].int ?? 0, pub: $0["PublicPort"].int ?? 0,
                type: $0["Type"].string ?? "tcp")
        }
        .sorted { a, b in
            if a.priv != b.priv { return a.priv < b.priv }
            if a.ip != b.ip { return ipLess(a.ip, b.ip) }
            if a.pub != b.pub { return a.pub < b.pub }
            return a.type < b.type
        }
        func join(_ host: String, _ port: String) -> String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        func group(_ key: String, _ first: Int64, _ last: Int64) -> String {
            let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let ip = parts.count > 1 ? parts[0] : "", type = parts.count > 1 ? parts[1] : parts[0]
            var g = String(first)
            if first != last { g += "-\(last)" }
            if !ip.isEmpty { g = join(ip, g) + "->" + g }
            return g + "/" + type
        }
        var groups: [String: (Int64, Int64)] = [:]
        var keys: [String] = []
        var result: [String] = [], hostMappings: [String] = []
        for p in list {
            var key = p.type
            if !p.ip.isEmpty {
                if p.pub != p.priv { hostMappings.append("\(join(p.ip, String(p.pub)))->\(p.priv)/\(p.type)"); continue }
                key = p.ip + "/" + p.type
            }
            guard let g = groups[key] else { groups[key] = (p.priv, p.priv); keys.append(key); continue }
            if p.priv == g.1 + 1 { groups[key] = (g.0, p.priv); continue }
            result.append(group(key, g.0, g.1))
            groups[key] = (p.priv, p.priv)
        }
        for k in keys { result.append(group(k, groups[k]!.0, groups[k]!.1)) }
        return (result + hostMappings).joined(separator: ", ")
    }

    /// netip.Addr.Less for the addresses Docker reports: IPv4 before IPv6, then numerically.
    static func ipLess(_ a: String, _ b: String) -> Bool {
        let a6 = a.contains(":"), b6 = b.contains(":")
        if a6 != b6 { return !a6 }
        if !a6 {
            let x = a.split(separator: ".").compactMap { Int($0) }, y = b.split(separator: ".").compactMap { Int($0) }
            return x.lexicographicallyPrecedes(y)
        }
        return a < b
    }

    // MARK: search

    static let searchFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
    static let searchHeader: JSON = [
        "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
    ]

    // MARK: images

    static let imagesFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
    static let imagesDigestFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
    static let imagesHeader: JSON = [
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
    ]

    static func image(_ i: JSON, repo: String, tag: String, digest: String, trunc: Bool) -> JSON {
        let id = i["Id"].string ?? ""
        let created = i["Created"].int ?? 0
        let containers = i["Containers"].int ?? -1, shared = i["SharedSize"].int ?? -1, size = i["Size"].int ?? 0
        return sorted([
            ("ID", .string(trunc ? truncateID(id) : id)), ("Repository", .string(repo)), ("Tag", .string(tag)),
            ("Digest", .string(digest)), ("CreatedSince", .string(Out.ago(created))),
            ("CreatedAt", .string(Timestamp(nanos: created * 1_000_000_000).goString)), ("Size", .string(Out.humanSize(size))),
            ("Containers", .string(containers == -1 ? "N/A" : String(containers))),
            ("SharedSize", .string(shared == -1 ? "N/A" : Out.humanSize(shared))),
            ("UniqueSize", .string(shared == -1 ? "N/A" : Out.humanSize(size - shared))),
        ])
    }

    // MARK: history

    static let historyFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    static let historyNonHumanFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    static let historyHeader: JSON = [
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    ]

    static func history(_ h: JSON, human: Bool, trunc: Bool) -> JSON {
        let id = h["Id"].string ?? ""
        let created = h["Created"].int ?? 0
        let createdAt = Timestamp(nanos: created * 1_000_000_000).rfc3339
        let by = (h["CreatedBy"].string ?? "").replacing("\t", with: " ")
        let size = h["Size"].int ?? 0
        return sorted([
            ("ID", .string(trunc && id.hasPrefix("sha256:") ? truncateID(id) : id)),
            ("CreatedAt", .string(createdAt)),
            ("CreatedSince", .string(!human ? createdAt : created <= 946_684_800 ? "N/A" : Out.ago(created))),
            ("CreatedBy", .string(trunc ? ellipsis(by, 45) : by)),
            ("Size", .string(human ? Out.humanSize(size) : String(size))),
            ("Comment", .string(h["Comment"].string ?? "")),
        ])
    }

    // MARK: events

    /// events.Message's Go field names for its lower-case JSON keys.
    static let eventAliases = ["ID": "id", "Status": "status", "From": "from", "Scope": "scope", "Time": "time", "TimeNano": "timeNano"]

    // MARK: stats

    static let statsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
    static let statsHeader: JSON = [
        "Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    ]
}
