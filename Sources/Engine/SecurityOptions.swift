import DockerAPI
import JSON
import Runtime
import Sys

/// `--security-opt`, `--cap-add/--cap-drop`, `--ulimit`, `--device`, `--device-cgroup-rule`,
/// `--cgroupns`, `--userns`, and the API's MaskedPaths/ReadonlyPaths, as dockerd applies them.
/// What Berth cannot apply on this host is refused with a clear error, never ignored.
enum SecurityOptions {
    static let rlimitNames: Set<String> = [
        "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
        "rss", "rtprio", "rttime", "sigpending", "stack", "as",
    ]

    static var appArmorEnabled: Bool { (try? FS.readString("/sys/module/apparmor/parameters/enabled"))?.hasPrefix("Y") == true }
    static var selinuxEnabled: Bool { FS.exists("/sys/fs/selinux/enforce") }

    /// Checks and applies the options to the spec; `hostConfig` as stored.
    static func apply(_ s: inout BundleSpec, _ h: HostConfig) throws(EngineError) {
        for opt in h.securityOpt ?? [] {
            // `key=value` or the older `key:value`.
            let sep = opt.firstIndex(where: { $0 == "=" || $0 == ":" })
            let key = sep.map { String(opt[..<$0]) } ?? opt
            let value = sep.map { String(opt[opt.index(after: $0)...]) } ?? ""
            switch key {
            case "no-new-privileges":
                switch value {
                case "", "true": s.noNewPrivileges = true
                case "false": s.noNewPrivileges = false
                default: throw .badRequest("invalid --security-opt 2: \"\(opt)\"")
                }
            case "seccomp":
                if value == "unconfined" { s.seccompUnconfined = true; continue }
                if value == "builtin" || value.isEmpty { continue }
                // The docker CLI (and cri-dockerd) send the profile's JSON inline.
                let profile: JSON
                do { profile = try JSON.parse(value) } catch { throw .badRequest("Decoding seccomp profile failed: \(error.message)") }
                do { _ = try SeccompProfile.resolve(profile, capabilities: []) } catch { throw .badRequest(error.description) }
                s.seccompProfile = profile
            case "apparmor":
                if value == "unconfined" || !appArmorEnabled && value.isEmpty { continue }
                throw .badRequest("AppArmor is not enabled on this host: cannot apply profile \"\(value)\"")
            case "label":
                if value == "disable" { continue }
                if !selinuxEnabled { throw .badRequest("SELinux is not enabled on this host: cannot apply --security-opt \(opt)") }
                throw .badRequest("SELinux labels are not supported by Berth")
            case "systempaths":
                guard value == "unconfined" else { throw .badRequest("invalid --security-opt 2: \"\(opt)\"") }
                s.maskedPathsOverride = []
                s.readonlyPathsOverride = []
            default:
                throw .badRequest("Invalid --security-opt: \"\(opt)\"")
            }
        }
        if let bad = OCISpecBuilder.unknownCapability((h.capAdd ?? []) + (h.capDrop ?? [])) {
            throw .badRequest("invalid capability: \"\(bad)\"")
        }
        if let masked = h.maskedPaths, masked != OCISpecBuilder.maskedPaths { s.maskedPathsOverride = masked }
        if let ro = h.readonlyPaths, ro != OCISpecBuilder.readonlyPaths { s.readonlyPathsOverride = ro }
        for u in h.resources.ulimits ?? [] {
            let name = u.name
            guard rlimitNames.contains(name) else { throw .badRequest("invalid ulimit type: \(name)") }
            let soft = u.soft, hard = u.hard
            guard soft <= hard || hard < 0 else { throw .badRequest("ulimit soft limit must be less than or equal to hard limit: \(soft) > \(hard)") }
            s.rlimits.append(("RLIMIT_" + name.uppercased(), soft, hard))
        }
        for d in h.resources.devices ?? [] {
            let host = d.pathOnHost
            var inContainer = d.pathInContainer
            if inContainer.isEmpty { inContainer = host }
            let perms = d.cgroupPermissions.isEmpty ? "rwm" : d.cgroupPermissions
            guard perms.allSatisfy({ "rwm".contains($0) }) else { throw .badRequest("invalid device cgroup permissions: \(perms)") }
            guard var dev = HostDevices.device(at: host) else {
                throw .badRequest("error gathering device information while adding custom device \"\(host)\": no such file or directory")
            }
            guard inContainer.hasPrefix("/dev/") || inContainer.hasPrefix("/") else { throw .badRequest("invalid device path \(inContainer)") }
            dev.path = inContainer
            s.devices.append((dev, perms))
        }
        for rule in h.resources.deviceCgroupRules ?? [] {
            s.deviceRules.append(try deviceRule(rule))
        }
        switch h.cgroupnsMode {
        case "", "host": break
        case "private": s.cgroupNamespace = true
        case let m: throw .badRequest("invalid cgroup namespace mode: \(m)")
        }
        switch h.usernsMode {
        case "", "host": break
        case let m: throw .badRequest("invalid USER mode: \(m)")
        }
    }

    /// `c 1:3 rwm`, `b 8:* r`, `a *:* m` → an OCI device cgroup rule.
    static func deviceRule(_ text: String) throws(EngineError) -> JSON {
        let parts = text.split(separator: " ").map(String.init)
        guard parts.count == 3, ["a", "b", "c"].contains(parts[0]), parts[2].allSatisfy({ "rwm".contains($0) }), !parts[2].isEmpty else {
            throw .badRequest("invalid device cgroup rule format: '\(text)'")
        }
        let nums = parts[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard nums.count == 2 else { throw .badRequest("invalid device cgroup rule format: '\(text)'") }
        var rule: JSON = ["allow": true, "type": .string(parts[0]), "access": .string(parts[2])]
        for (key, n) in zip(["major", "minor"], nums) where n != "*" {
            guard let v = Int64(n), v >= 0, v <= Int64(UInt32.max) else { throw .badRequest("invalid device cgroup rule format: '\(text)'") }
            rule[key] = .int(v)
        }
        return rule
    }
}
