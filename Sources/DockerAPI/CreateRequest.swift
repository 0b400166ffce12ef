import JSON

/// `POST /containers/create`'s body as moby's Go types declare it (api/types/container:
/// Config, HostConfig, Resources; network.NetworkingConfig), for `GoSchema.check`.
public enum CreateRequest {
    static let healthConfig: GoType = .object(
        "HealthConfig",
        [
            "Test": .slice(.string), "Interval": .int("int64"), "Timeout": .int("int64"), "StartPeriod": .int("int64"),
            "StartInterval": .int("int64"), "Retries": .int("int"),
        ])
    static let portBinding: GoType = .object("PortBinding", ["HostIp": .string, "HostPort": .string])
    static let mount: GoType = .object(
        "Mount",
        [
            "Type": .string, "Source": .string, "Target": .string, "ReadOnly": .bool, "Consistency": .string,
            "BindOptions": .object("BindOptions", ["Propagation": .string, "NonRecursive": .bool, "CreateMountpoint": .bool]),
            "VolumeOptions": .object(
                "VolumeOptions",
                [
                    "NoCopy": .bool, "Labels": .map(.string),
                    "DriverConfig": .object("Driver", ["Name": .string, "Options": .map(.string)]),
                ]),
            "TmpfsOptions": .object("TmpfsOptions", ["SizeBytes": .int("int64"), "Mode": .int("uint32")]),
        ])
    static let throttle: GoType = .slice(.object("ThrottleDevice", ["Path": .string, "Rate": .int("uint64")]))

    public static let hostConfig: GoType = .object(
        "HostConfig",
        [
            "Binds": .slice(.string), "ContainerIDFile": .string,
            "LogConfig": .object("LogConfig", ["Type": .string, "Config": .map(.string)]),
            "NetworkMode": .string, "PortBindings": .map(.slice(portBinding)),
            "RestartPolicy": .object("RestartPolicy", ["Name": .string, "MaximumRetryCount": .int("int")]),
            "AutoRemove": .bool, "VolumeDriver": .string, "VolumesFrom": .slice(.string), "ConsoleSize": .array(.int("uint")),
            "Annotations": .map(.string), "CapAdd": .strSlice, "CapDrop": .strSlice, "CgroupnsMode": .string,
            "Dns": .slice(.string), "DnsOptions": .slice(.string), "DnsSearch": .slice(.string), "ExtraHosts": .slice(.string),
            "GroupAdd": .slice(.string), "IpcMode": .string, "Cgroup": .string, "Links": .slice(.string), "OomScoreAdj": .int("int"),
            "PidMode": .string, "Privileged": .bool, "PublishAllPorts": .bool, "ReadonlyRootfs": .bool, "SecurityOpt": .slice(.string),
            "StorageOpt": .map(.string), "Tmpfs": .map(.string), "UTSMode": .string, "UsernsMode": .string, "ShmSize": .int("int64"),
            "Sysctls": .map(.string), "Runtime": .string, "Isolation": .string,
            "CpuShares": .int("int64"), "Memory": .int("int64"), "NanoCpus": .int("int64"), "CgroupParent": .string,
            "BlkioWeight": .int("uint16"),
            "BlkioWeightDevice": .slice(.object("WeightDevice", ["Path": .string, "Weight": .int("uint16")])),
            "BlkioDeviceReadBps": throttle, "BlkioDeviceWriteBps": throttle, "BlkioDeviceReadIOps": throttle, "BlkioDeviceWriteIOps": throttle,
            "CpuPeriod": .int("int64"), "CpuQuota": .int("int64"), "CpuRealtimePeriod": .int("int64"), "CpuRealtimeRuntime": .int("int64"),
            "CpusetCpus": .string, "CpusetMems": .string,
            "Devices": .slice(.object("DeviceMapping", ["PathOnHost": .string, "PathInContainer": .string, "CgroupPermissions": .string])),
            "DeviceCgroupRules": .slice(.string), "DeviceRequests": .slice(.any), "KernelMemory": .int("int64"),
            "KernelMemoryTCP": .int("int64"), "MemoryReservation": .int("int64"), "MemorySwap": .int("int64"),
            "MemorySwappiness": .int("int64"), "OomKillDisable": .bool, "PidsLimit": .int("int64"),
            "Ulimits": .slice(.object("Ulimit", ["Name": .string, "Hard": .int("int64"), "Soft": .int("int64")])),
            "CpuCount": .int("int64"), "CpuPercent": .int("int64"), "IOMaximumIOps": .int("uint64"), "IOMaximumBandwidth": .int("uint64"),
            "Mounts": .slice(mount), "MaskedPaths": .slice(.string), "ReadonlyPaths": .slice(.string), "Init": .bool,
        ])

    public static let endpointSettings: GoType = .object(
        "EndpointSettings",
        [
            "IPAMConfig": .object("EndpointIPAMConfig", ["IPv4Address": .string, "IPv6Address": .string, "LinkLocalIPs": .slice(.string)]),
            "Links": .slice(.string), "Aliases": .slice(.string), "MacAddress": .string, "DriverOpts": .map(.string),
            "NetworkID": .string, "EndpointID": .string, "Gateway": .string, "IPAddress": .string, "IPPrefixLen": .int("int"),
            "IPv6Gateway": .string, "GlobalIPv6Address": .string, "GlobalIPv6PrefixLen": .int("int"),
        ])

    /// The wrapper dockerd decodes into: Config's fields at the top, then HostConfig and
    /// NetworkingConfig.
    public static let body: GoType = .object(
        "ContainerConfigWrapper",
        [
            "Hostname": .string, "Domainname": .string, "User": .string, "AttachStdin": .bool, "AttachStdout": .bool,
            "AttachStderr": .bool, "ExposedPorts": .map(.any), "Tty": .bool, "OpenStdin": .bool, "StdinOnce": .bool,
            "Env": .slice(.string), "Cmd": .strSlice, "Healthcheck": healthConfig, "ArgsEscaped": .bool, "Image": .string,
            "Volumes": .map(.any), "WorkingDir": .string, "Entrypoint": .strSlice, "NetworkDisabled": .bool, "MacAddress": .string,
            "OnBuild": .slice(.string), "Labels": .map(.string), "StopSignal": .string, "StopTimeout": .int("int"), "Shell": .strSlice,
            "HostConfig": hostConfig,
            "NetworkingConfig": .object("NetworkingConfig", ["EndpointsConfig": .map(endpointSettings)]),
        ])

    /// Refuses what Go's decoder would, in its words.
    public static func check(_ body: JSON) throws(GoDecodeError) {
        try GoSchema.check(body, CreateRequest.body, structName: "", path: [])
    }
}
