import Engine
import JSON

/// Shapes that changed between API versions, adapted to the request's version on the way out
/// (dockerd keeps older clients' view the same way). The engine produces the newest shape.
enum VersionAdapter {
    /// Before 1.44 the container's short ID was an alias only while the container ran (dockerd
    /// added it at connect time); from 1.44 it is part of the endpoint's configuration.
    static func container(_ j: JSON, _ v: APIVersion) -> JSON {
        guard v < .v1_44, j["State"]["Running"].bool != true, let id = j["Id"].string else { return j }
        var out = j
        out["NetworkSettings"]["Networks"] = withoutShortIDAlias(j["NetworkSettings"]["Networks"], id)
        return out
    }

    static func containerSummary(_ j: JSON, _ v: APIVersion) -> JSON {
        guard v < .v1_44, j["State"].string != "running", let id = j["Id"].string else { return j }
        var out = j
        out["NetworkSettings"]["Networks"] = withoutShortIDAlias(j["NetworkSettings"]["Networks"], id)
        return out
    }

    static func withoutShortIDAlias(_ networks: JSON, _ id: String) -> JSON {
        guard case .object(let nets) = networks else { return networks }
        var out = JSONObject()
        let short = String(id.prefix(12))
        for (name, var ep) in nets {
            if let aliases = ep["Aliases"].stringArray {
                let kept = aliases.filter { $0 != short }
                ep["Aliases"] = kept.isEmpty ? .null : JSON.strings(kept)
            }
            out[name] = ep
        }
        return .object(out)
    }

    /// `GET /images/json`: `VirtualSize` is gone from 1.44.
    static func imageSummary(_ j: JSON, _ v: APIVersion) -> JSON {
        guard v >= .v1_44, case .object(var o) = j else { return j }
        o["VirtualSize"] = nil
        return .object(o)
    }
}
