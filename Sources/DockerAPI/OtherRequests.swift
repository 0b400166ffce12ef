import JSON

/// The other JSON bodies as moby's Go types declare them, for `GoSchema.check`.
public enum RequestBodies {
    /// `POST /containers/{id}/exec` (types.ExecConfig).
    public static let exec: GoType = .object(
        "ExecConfig",
        [
            "User": .string, "Privileged": .bool, "Tty": .bool, "ConsoleSize": .array(.int("uint")), "AttachStdin": .bool,
            "AttachStderr": .bool, "AttachStdout": .bool, "Detach": .bool, "DetachKeys": .string, "Env": .slice(.string),
            "WorkingDir": .string, "Cmd": .slice(.string),
        ])

    /// `POST /containers/{id}/update` (container.UpdateConfig: Resources and RestartPolicy).
    public static let update: GoType = {
        guard case .object(_, var fields) = CreateRequest.hostConfig else { return .any }
        let resources: Set<String> = [
            "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
            "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
            "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems",
            "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory", "KernelMemoryTCP",
            "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits",
            "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "RestartPolicy",
        ]
        fields = fields.filter { resources.contains($0.key) }
        return .object("UpdateConfig", fields)
    }()

    /// `POST /networks/create` (types.NetworkCreateRequest).
    public static let networkCreate: GoType = .object(
        "NetworkCreateRequest",
        [
            "Name": .string, "CheckDuplicate": .bool, "Driver": .string, "Scope": .string, "EnableIPv6": .bool,
            "IPAM": .object(
                "IPAM",
                [
                    "Driver": .string, "Options": .map(.string),
                    "Config": .slice(
                        .object(
                            "IPAMConfig",
                            [
                                "Subnet": .string, "IPRange": .string, "Gateway": .string,
                                "AuxiliaryAddresses": .map(.string),
                            ])),
                ]),
            "Internal": .bool, "Attachable": .bool, "Ingress": .bool, "ConfigOnly": .bool,
            "ConfigFrom": .object("ConfigReference", ["Network": .string]), "Options": .map(.string), "Labels": .map(.string),
        ])

    /// `POST /networks/{id}/connect` (types.NetworkConnect).
    public static let networkConnect: GoType = .object(
        "NetworkConnect",
        [
            "Container": .string, "EndpointConfig": CreateRequest.endpointSettings,
        ])

    /// `POST /volumes/create` (volume.VolumeCreateBody).
    public static let volumeCreate: GoType = .object(
        "VolumeCreateBody",
        [
            "Name": .string, "Driver": .string, "DriverOpts": .map(.string), "Labels": .map(.string),
        ])

    public static func check(_ body: JSON, as type: GoType) throws(GoDecodeError) {
        try GoSchema.check(body, type, structName: "", path: [])
    }
}
