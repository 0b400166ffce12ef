import JSON
import Registry
import Sys

/// `X-Registry-Auth`: base64url JSON AuthConfig, padded or not; anything unreadable is anonymous.
enum RegistryAuth {
    static func decode(_ header: String?) -> Credentials? {
        guard let header, !header.isEmpty, let raw = Base64.decode(header), let j = try? JSON.parse(raw) else { return nil }
        var user = j["username"].string ?? "", pass = j["password"].string ?? ""
        if user.isEmpty, let auth = j["auth"].string, let b = Base64.decode(auth) {
            let parts = String(decoding: b, as: UTF8.self).split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2 { user = parts[0]; pass = parts[1] }
        }
        let token = j["identitytoken"].string.flatMap { $0.isEmpty ? nil : $0 }
        if user.isEmpty && token == nil { return nil }
        return Credentials(username: user, password: pass, identityToken: token)
    }
}
