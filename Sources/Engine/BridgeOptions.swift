import Sys

/// The bridge driver's options (`docker network create -o …`) as dockerd's driver reads them:
/// those Berth applies, those it refuses with a clear error (a setting never silently means
/// less than it says), and unknown keys, which dockerd's driver ignores too.
struct BridgeOptions: Equatable {
    var icc = true
    var masquerade = true

    static let name = "com.docker.network.bridge.name"
    static let icc = "com.docker.network.bridge.enable_icc"
    static let masquerade = "com.docker.network.bridge.enable_ip_masquerade"
    static let hostBinding = "com.docker.network.bridge.host_binding_ipv4"
    static let mtu = "com.docker.network.driver.mtu"
    /// Options of dockerd's bridge driver Berth does not implement, with the value that means
    /// what Berth does anyway (accepted), if any.
    static let unimplemented: [String: String?] = [
        hostBinding: "0.0.0.0", mtu: "1500", "com.docker.network.bridge.inhibit_ipv4": "false",
        "com.docker.network.container_iface_prefix": "eth", "com.docker.network.bridge.default_bridge": "false",
        "com.docker.network.bridge.gateway_mode_ipv4": "nat", "com.docker.network.bridge.gateway_mode_ipv6": "nat",
        "com.docker.network.bridge.trusted_host_interfaces": nil,
    ]

    init(_ options: [String: String]) {
        icc = options[Self.icc].flatMap(GoStrconv.parseBool) ?? true
        masquerade = options[Self.masquerade].flatMap(GoStrconv.parseBool) ?? true
    }

    static func check(_ options: [String: String], bridgeFiltering: Bool) throws(EngineError) {
        for key in [icc, masquerade] {
            guard let v = options[key] else { continue }
            guard GoStrconv.parseBool(v) != nil else {
                throw .badRequest("failed to parse \(key) value: \(v) (strconv.ParseBool: parsing \"\(v)\": invalid syntax)")
            }
        }
        if options[icc].flatMap(GoStrconv.parseBool) == false && !bridgeFiltering {
            throw .badRequest(
                "\(icc)=false needs the host's bridged traffic filtered (net.bridge.bridge-nf-call-iptables=1, module br_netfilter)")
        }
        if let v = options[mtu], Int(v) == nil {
            throw .badRequest("failed to parse \(mtu) value: \(v) (strconv.Atoi: parsing \"\(v)\": invalid syntax)")
        }
        for key in options.keys.sorted() {
            guard let accepted = unimplemented[key] else { continue }
            let value = options[key] ?? ""
            if let accepted, value == accepted || (key == mtu && Int(value) == 1500) { continue }
            throw .notImplemented("network option \(key)=\(value) is not supported by Berth")
        }
    }

    /// Whether traffic between ports of a bridge passes the host's iptables (br_netfilter).
    static func hostFiltersBridgedTraffic() -> Bool {
        (try? FS.readString("/proc/sys/net/bridge/bridge-nf-call-iptables"))?.trimmingSpaces() == "1"
    }
}
