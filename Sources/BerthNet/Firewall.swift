/// The packet filter rules Berth owns, as one `iptables-restore --noflush` document that
/// replaces the contents of Berth's chains at once (never a half-applied state). The jumps from
/// the built-in chains are installed separately, once, by `hooks`.
public enum Firewall {
    public struct Net: Sendable {
        public var bridge: String
        public var subnet: Subnet
        public var internalOnly: Bool
        public var masquerade: Bool
        /// Containers on the bridge reach each other (`com.docker.network.bridge.enable_icc`).
        public var icc: Bool
        public init(bridge: String, subnet: Subnet, internalOnly: Bool, masquerade: Bool = true, icc: Bool = true) {
            self.bridge = bridge; self.subnet = subnet; self.internalOnly = internalOnly; self.masquerade = masquerade; self.icc = icc
        }
    }

    public struct Port: Sendable, Equatable {
        public var proto: String  // tcp | udp
        public var hostIP: String  // "" or 0.0.0.0: every local address
        public var hostPort: Int
        public var containerIP: IPv4
        public var containerPort: Int
        public var bridge: String
        public init(proto: String, hostIP: String, hostPort: Int, containerIP: IPv4, containerPort: Int, bridge: String) {
            self.proto = proto; self.hostIP = hostIP; self.hostPort = hostPort
            self.containerIP = containerIP; self.containerPort = containerPort; self.bridge = bridge
        }
    }

    public struct Chains: Sendable {
        public let dnat, postrouting, forward, isolation, raw: String
        public init(tag: String) {
            let s = tag.isEmpty ? "" : "-" + tag
            dnat = "BERTH" + s; postrouting = "BERTH-POST" + s; forward = "BERTH-FWD" + s; isolation = "BERTH-ISO" + s
            raw = "BERTH-RAW" + s
        }
        public var nat: [String] { [dnat, postrouting] }
        public var filter: [String] { [forward, isolation] }
    }

    /// (table, built-in chain, rule) jumps into our chains.
    public static func hooks(_ c: Chains) -> [(String, String, [String])] {
        [
            ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", c.dnat]),
            // Not for 127.0.0.0/8: loopback connections to a published port reach the port's
            // own socket, relayed by LoopbackProxy (no route_localnet on the bridges).
            ("nat", "OUTPUT", ["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", c.dnat]),
            ("nat", "POSTROUTING", ["-j", c.postrouting]),
            ("raw", "PREROUTING", ["-j", c.raw]),
            // Each is inserted at the top, so isolation (listed last) ends up first.
            ("filter", "FORWARD", ["-j", c.forward]),
            ("filter", "FORWARD", ["-j", c.isolation]),
        ]
    }

    /// Hooks earlier Berth versions installed that would now be wrong (the OUTPUT jump that
    /// also DNAT'd loopback, which needed route_localnet): removed when the hooks are ensured.
    public static func legacyHooks(_ c: Chains) -> [(String, String, [String])] {
        [("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", c.dnat])]
    }

    public static func document(_ c: Chains, networks: [Net], ports: [Port]) -> String {
        var nat = ["*nat", ":\(c.dnat) - [0:0]", ":\(c.postrouting) - [0:0]", "-F \(c.dnat)", "-F \(c.postrouting)"]
        var filter = ["*filter", ":\(c.forward) - [0:0]", ":\(c.isolation) - [0:0]", "-F \(c.forward)", "-F \(c.isolation)"]
        var raw = ["*raw", ":\(c.raw) - [0:0]", "-F \(c.raw)"]
        for n in networks {
            // A container never sends to the host's loopback through its bridge (martians; the
            // kernel drops them without route_localnet too: this holds if someone turns it on).
            raw.append("-A \(c.raw) -i \(n.bridge) -d 127.0.0.0/8 -j DROP")
            if n.masquerade && !n.internalOnly {
                nat.append("-A \(c.postrouting) -s \(n.subnet) ! -o \(n.bridge) -j MASQUERADE")
            }
            filter.append("-A \(c.forward) -o \(n.bridge) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            filter.append("-A \(c.forward) -i \(n.bridge) -o \(n.bridge) -j \(n.icc ? "ACCEPT" : "DROP")")
            if n.internalOnly {
                filter.append("-A \(c.isolation) -i \(n.bridge) ! -o \(n.bridge) -j DROP")
                filter.append("-A \(c.isolation) ! -i \(n.bridge) -o \(n.bridge) -j DROP")
            } else {
                filter.append("-A \(c.forward) -i \(n.bridge) ! -o \(n.bridge) -j ACCEPT")
            }
            // Networks do not reach each other.
            for other in networks where other.bridge != n.bridge {
                filter.append("-A \(c.isolation) -i \(n.bridge) -o \(other.bridge) -j DROP")
            }
        }
        // One host port may front several replicas of a service: spread new connections over
        // them (each rule takes its share of what the earlier ones left), as a swarm's
        // routing mesh would.
        var groups: [String: [Port]] = [:]
        var order: [String] = []
        for p in ports {
            let key = "\(p.proto) \(p.hostIP) \(p.hostPort)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(p)
        }
        for key in order {
            let backends = groups[key]!
            for (i, p) in backends.enumerated() {
                let dest = p.hostIP.isEmpty || p.hostIP == "0.0.0.0" ? "" : "-d \(p.hostIP)/32 "
                let left = backends.count - i
                let share = left > 1 ? "-m statistic --mode nth --every \(left) --packet 0 " : ""
                nat.append(
                    "-A \(c.dnat) \(dest)! -i \(p.bridge) -p \(p.proto) -m \(p.proto) --dport \(p.hostPort) \(share)-j DNAT --to-destination \(p.containerIP):\(p.containerPort)"
                )
                filter.append(
                    "-A \(c.forward) -d \(p.containerIP)/32 ! -i \(p.bridge) -o \(p.bridge) -p \(p.proto) -m \(p.proto) --dport \(p.containerPort) -j ACCEPT")
            }
        }
        for n in networks { filter.append("-A \(c.forward) -o \(n.bridge) -j DROP") }
        return (nat + ["COMMIT"] + filter + ["COMMIT"] + raw + ["COMMIT"]).joined(separator: "\n") + "\n"
    }

    /// Removes our chains entirely (daemon shutdown with nothing running).
    public static func teardown(_ c: Chains) -> String {
        var nat = ["*nat"], filter = ["*filter"]
        for ch in c.nat { nat.append(":\(ch) - [0:0]"); nat.append("-F \(ch)") }
        for ch in c.filter { filter.append(":\(ch) - [0:0]"); filter.append("-F \(ch)") }
        let raw = ["*raw", ":\(c.raw) - [0:0]", "-F \(c.raw)"]
        return (nat + ["COMMIT"] + filter + ["COMMIT"] + raw + ["COMMIT"]).joined(separator: "\n") + "\n"
    }
}
