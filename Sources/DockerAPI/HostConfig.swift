import JSON

/// moby's `container.LogConfig`.
public struct LogConfig: GoJSONValue {
    public var type = ""
    public var config: [String: String] = [:]
    public init(type: String = "", config: [String: String] = [:]) { self.type = type; self.config = config }
    public init(json j: JSON) { type = j["Type"].string ?? ""; config = j["Config"].stringMap ?? [:] }
    public var json: JSON { ["Type": .string(type), "Config": GoEncode.stringMap(config)] }
}

/// moby's `container.RestartPolicy`.
public struct RestartPolicyConfig: GoJSONValue {
    public var name = ""
    public var maximumRetryCount = 0
    public init(name: String = "", maximumRetryCount: Int = 0) { self.name = name; self.maximumRetryCount = maximumRetryCount }
    public init(json j: JSON) { name = j["Name"].string ?? ""; maximumRetryCount = j["MaximumRetryCount"].goInt }
    public var json: JSON { ["Name": .string(name), "MaximumRetryCount": .int(Int64(maximumRetryCount))] }
}

/// nat.PortBinding.
public struct PortBinding: GoJSONValue {
    public var hostIP = ""
    public var hostPort = ""
    public init(hostIP: String = "", hostPort: String = "") { self.hostIP = hostIP; self.hostPort = hostPort }
    public init(json j: JSON) { hostIP = j["HostIp"].string ?? ""; hostPort = j["HostPort"].string ?? "" }
    public var json: JSON { ["HostIp": .string(hostIP), "HostPort": .string(hostPort)] }
}

/// blkiodev.WeightDevice.
public struct WeightDevice: GoJSONValue {
    public var path = ""
    public var weight: UInt16 = 0
    public init(json j: JSON) { path = j["Path"].string ?? ""; weight = UInt16(clamping: j["Weight"].int ?? 0) }
    public var json: JSON { ["Path": .string(path), "Weight": .int(Int64(weight))] }
}

/// blkiodev.ThrottleDevice.
public struct ThrottleDevice: GoJSONValue {
    public var path = ""
    public var rate: UInt64 = 0
    public init(json j: JSON) { path = j["Path"].string ?? ""; rate = j["Rate"].goUInt64 }
    public var json: JSON { ["Path": .string(path), "Rate": .int(Int64(clamping: rate))] }
}

/// container.DeviceMapping (`--device`).
public struct DeviceMapping: GoJSONValue {
    public var pathOnHost = ""
    public var pathInContainer = ""
    public var cgroupPermissions = ""
    public init(json j: JSON) {
        pathOnHost = j["PathOnHost"].string ?? ""
        pathInContainer = j["PathInContainer"].string ?? ""
        cgroupPermissions = j["CgroupPermissions"].string ?? ""
    }
    public var json: JSON {
        ["PathOnHost": .string(pathOnHost), "PathInContainer": .string(pathInContainer), "CgroupPermissions": .string(cgroupPermissions)]
    }
}

/// container.DeviceRequest (`--gpus`).
public struct DeviceRequest: GoJSONValue {
    public var driver = ""
    public var count = 0
    public var deviceIDs: [String]? = nil
    public var capabilities: [[String]]? = nil
    public var options: [String: String]? = nil
    public init(json j: JSON) {
        driver = j["Driver"].string ?? ""
        count = j["Count"].goInt
        deviceIDs = j["DeviceIDs"].stringArray
        capabilities = j["Capabilities"].list { $0.stringArray ?? [] }
        options = j["Options"].stringMap
    }
    public var json: JSON {
        [
            "Driver": .string(driver), "Count": .int(Int64(count)), "DeviceIDs": GoEncode.strings(deviceIDs),
            "Capabilities": capabilities.map { .array($0.map { JSON.strings($0) }) } ?? .null, "Options": GoEncode.stringMap(options),
        ]
    }
}

/// units.Ulimit.
public struct Ulimit: GoJSONValue {
    public var name = ""
    public var hard: Int64 = 0
    public var soft: Int64 = 0
    public init(name: String, hard: Int64, soft: Int64) { self.name = name; self.hard = hard; self.soft = soft }
    public init(json j: JSON) { name = j["Name"].string ?? ""; hard = j["Hard"].goInt64; soft = j["Soft"].goInt64 }
    public var json: JSON { ["Name": .string(name), "Hard": .int(hard), "Soft": .int(soft)] }
}

/// moby's `mount.Mount` (`--mount`).
public struct Mount: GoJSONValue {
    public struct BindOptions: GoJSONValue {
        public var propagation = ""
        public var nonRecursive = false
        public var createMountpoint = false
        public init(json j: JSON) {
            propagation = j["Propagation"].string ?? ""
            nonRecursive = j["NonRecursive"].bool ?? false
            createMountpoint = j["CreateMountpoint"].bool ?? false
        }
        public var json: JSON {
            var w = GoObjectWriter()
            w.omitEmpty("Propagation", .string(propagation))
            w.omitEmpty("NonRecursive", .bool(nonRecursive))
            w.omitEmpty("CreateMountpoint", .bool(createMountpoint))
            return w.json
        }
    }
    public struct VolumeOptions: GoJSONValue {
        public var noCopy = false
        public var labels: [String: String]? = nil
        public var driverName = ""
        public var driverOptions: [String: String]? = nil
        /// Whether a DriverConfig was given at all (Go's pointer).
        public var hasDriverConfig = false
        public init(json j: JSON) {
            noCopy = j["NoCopy"].bool ?? false
            labels = j["Labels"].stringMap
            hasDriverConfig = j["DriverConfig"].object != nil
            driverName = j["DriverConfig"]["Name"].string ?? ""
            driverOptions = j["DriverConfig"]["Options"].stringMap
        }
        public var json: JSON {
            var w = GoObjectWriter()
            w.omitEmpty("NoCopy", .bool(noCopy))
            w.omitEmpty("Labels", GoEncode.stringMap(labels))
            if hasDriverConfig {
                var d = GoObjectWriter()
                d.omitEmpty("Name", .string(driverName))
                d.omitEmpty("Options", GoEncode.stringMap(driverOptions))
                w.put("DriverConfig", d.json)
            }
            return w.json
        }
    }
    public struct TmpfsOptions: GoJSONValue {
        public var sizeBytes: Int64 = 0
        public var mode: UInt32 = 0
        public init(json j: JSON) { sizeBytes = j["SizeBytes"].goInt64; mode = UInt32(clamping: j["Mode"].int ?? 0) }
        public var json: JSON {
            var w = GoObjectWriter()
            w.omitEmpty("SizeBytes", .int(sizeBytes))
            w.omitEmpty("Mode", .int(Int64(mode)))
            return w.json
        }
    }

    public var type = ""
    public var source = ""
    public var target = ""
    public var readOnly = false
    public var consistency = ""
    public var bindOptions: BindOptions? = nil
    public var volumeOptions: VolumeOptions? = nil
    public var tmpfsOptions: TmpfsOptions? = nil

    public init(json j: JSON) {
        type = j["Type"].string ?? ""
        source = j["Source"].string ?? ""
        target = j["Target"].string ?? ""
        readOnly = j["ReadOnly"].bool ?? false
        consistency = j["Consistency"].string ?? ""
        bindOptions = j["BindOptions"].object == nil ? nil : BindOptions(json: j["BindOptions"])
        volumeOptions = j["VolumeOptions"].object == nil ? nil : VolumeOptions(json: j["VolumeOptions"])
        tmpfsOptions = j["TmpfsOptions"].object == nil ? nil : TmpfsOptions(json: j["TmpfsOptions"])
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.omitEmpty("Type", .string(type))
        w.omitEmpty("Source", .string(source))
        w.omitEmpty("Target", .string(target))
        w.omitEmpty("ReadOnly", .bool(readOnly))
        w.omitEmpty("Consistency", .string(consistency))
        if let bindOptions { w.put("BindOptions", bindOptions.json) }
        if let volumeOptions { w.put("VolumeOptions", volumeOptions.json) }
        if let tmpfsOptions { w.put("TmpfsOptions", tmpfsOptions.json) }
        return w.json
    }
}

/// moby's `container.Resources`: the cgroup limits (also the body of `update`).
public struct Resources: GoJSONValue {
    public var cpuShares: Int64 = 0
    public var memory: Int64 = 0
    public var nanoCpus: Int64 = 0
    public var cgroupParent = ""
    public var blkioWeight: UInt16 = 0
    public var blkioWeightDevice: [WeightDevice]? = nil
    public var blkioDeviceReadBps: [ThrottleDevice]? = nil
    public var blkioDeviceWriteBps: [ThrottleDevice]? = nil
    public var blkioDeviceReadIOps: [ThrottleDevice]? = nil
    public var blkioDeviceWriteIOps: [ThrottleDevice]? = nil
    public var cpuPeriod: Int64 = 0
    public var cpuQuota: Int64 = 0
    public var cpuRealtimePeriod: Int64 = 0
    public var cpuRealtimeRuntime: Int64 = 0
    public var cpusetCpus = ""
    public var cpusetMems = ""
    public var devices: [DeviceMapping]? = nil
    public var deviceCgroupRules: [String]? = nil
    public var deviceRequests: [DeviceRequest]? = nil
    public var kernelMemory: Int64 = 0
    public var kernelMemoryTCP: Int64 = 0
    public var memoryReservation: Int64 = 0
    public var memorySwap: Int64 = 0
    /// Go's `*int64`: nil is "not set".
    public var memorySwappiness: Int64? = nil
    public var oomKillDisable: Bool? = nil
    public var pidsLimit: Int64? = nil
    public var ulimits: [Ulimit]? = nil
    public var cpuCount: Int64 = 0
    public var cpuPercent: Int64 = 0
    public var ioMaximumIOps: UInt64 = 0
    public var ioMaximumBandwidth: UInt64 = 0

    public init() {}
    public init(json j: JSON) {
        cpuShares = j["CpuShares"].goInt64
        memory = j["Memory"].goInt64
        nanoCpus = j["NanoCpus"].goInt64
        cgroupParent = j["CgroupParent"].string ?? ""
        blkioWeight = UInt16(clamping: j["BlkioWeight"].int ?? 0)
        blkioWeightDevice = j["BlkioWeightDevice"].list(WeightDevice.init(json:))
        blkioDeviceReadBps = j["BlkioDeviceReadBps"].list(ThrottleDevice.init(json:))
        blkioDeviceWriteBps = j["BlkioDeviceWriteBps"].list(ThrottleDevice.init(json:))
        blkioDeviceReadIOps = j["BlkioDeviceReadIOps"].list(ThrottleDevice.init(json:))
        blkioDeviceWriteIOps = j["BlkioDeviceWriteIOps"].list(ThrottleDevice.init(json:))
        cpuPeriod = j["CpuPeriod"].goInt64
        cpuQuota = j["CpuQuota"].goInt64
        cpuRealtimePeriod = j["CpuRealtimePeriod"].goInt64
        cpuRealtimeRuntime = j["CpuRealtimeRuntime"].goInt64
        cpusetCpus = j["CpusetCpus"].string ?? ""
        cpusetMems = j["CpusetMems"].string ?? ""
        devices = j["Devices"].list(DeviceMapping.init(json:))
        deviceCgroupRules = j["DeviceCgroupRules"].stringArray
        deviceRequests = j["DeviceRequests"].list(DeviceRequest.init(json:))
        kernelMemory = j["KernelMemory"].goInt64
        kernelMemoryTCP = j["KernelMemoryTCP"].goInt64
        memoryReservation = j["MemoryReservation"].goInt64
        memorySwap = j["MemorySwap"].goInt64
        memorySwappiness = j["MemorySwappiness"].int
        oomKillDisable = j["OomKillDisable"].bool
        pidsLimit = j["PidsLimit"].int
        ulimits = j["Ulimits"].list(Ulimit.init(json:))
        cpuCount = j["CpuCount"].goInt64
        cpuPercent = j["CpuPercent"].goInt64
        ioMaximumIOps = j["IOMaximumIOps"].goUInt64
        ioMaximumBandwidth = j["IOMaximumBandwidth"].goUInt64
    }

    /// The fields in Go's order, to be spliced into HostConfig (Resources is embedded there).
    func write(into w: inout GoObjectWriter) {
        w.put("CpuShares", .int(cpuShares))
        w.put("Memory", .int(memory))
        w.put("NanoCpus", .int(nanoCpus))
        w.put("CgroupParent", .string(cgroupParent))
        w.put("BlkioWeight", .int(Int64(blkioWeight)))
        w.put("BlkioWeightDevice", GoEncode.list(blkioWeightDevice))
        w.put("BlkioDeviceReadBps", GoEncode.list(blkioDeviceReadBps))
        w.put("BlkioDeviceWriteBps", GoEncode.list(blkioDeviceWriteBps))
        w.put("BlkioDeviceReadIOps", GoEncode.list(blkioDeviceReadIOps))
        w.put("BlkioDeviceWriteIOps", GoEncode.list(blkioDeviceWriteIOps))
        w.put("CpuPeriod", .int(cpuPeriod))
        w.put("CpuQuota", .int(cpuQuota))
        w.put("CpuRealtimePeriod", .int(cpuRealtimePeriod))
        w.put("CpuRealtimeRuntime", .int(cpuRealtimeRuntime))
        w.put("CpusetCpus", .string(cpusetCpus))
        w.put("CpusetMems", .string(cpusetMems))
        w.put("Devices", GoEncode.list(devices))
        w.put("DeviceCgroupRules", GoEncode.strings(deviceCgroupRules))
        w.put("DeviceRequests", GoEncode.list(deviceRequests))
        w.put("KernelMemory", .int(kernelMemory))
        w.put("KernelMemoryTCP", .int(kernelMemoryTCP))
        w.put("MemoryReservation", .int(memoryReservation))
        w.put("MemorySwap", .int(memorySwap))
        w.put("MemorySwappiness", memorySwappiness.map { .int($0) } ?? .null)
        w.put("OomKillDisable", .bool(oomKillDisable ?? false))
        w.put("PidsLimit", pidsLimit.map { .int($0) } ?? .null)
        w.put("Ulimits", GoEncode.list(ulimits))
        w.put("CpuCount", .int(cpuCount))
        w.put("CpuPercent", .int(cpuPercent))
        w.put("IOMaximumIOps", .int(Int64(clamping: ioMaximumIOps)))
        w.put("IOMaximumBandwidth", .int(Int64(clamping: ioMaximumBandwidth)))
    }

    public var json: JSON {
        var w = GoObjectWriter()
        write(into: &w)
        return w.json
    }
}

/// moby's `container.HostConfig`: what a container needs from this host. Written in the field
/// order dockerd 20.10 reports (`ConsoleSize` after `Runtime`; `Annotations`, API 1.43, after
/// `VolumesFrom`).
public struct HostConfig: GoJSONValue {
    public var binds: [String]? = nil
    public var containerIDFile = ""
    public var logConfig = LogConfig()
    public var networkMode = ""
    public var portBindings: [String: [PortBinding]]? = nil
    public var restartPolicy = RestartPolicyConfig()
    public var autoRemove = false
    public var volumeDriver = ""
    public var volumesFrom: [String]? = nil
    public var annotations: [String: String]? = nil
    public var capAdd: [String]? = nil
    public var capDrop: [String]? = nil
    public var cgroupnsMode = ""
    public var dns: [String]? = nil
    public var dnsOptions: [String]? = nil
    public var dnsSearch: [String]? = nil
    public var extraHosts: [String]? = nil
    public var groupAdd: [String]? = nil
    public var ipcMode = ""
    public var cgroup = ""
    public var links: [String]? = nil
    public var oomScoreAdj = 0
    public var pidMode = ""
    public var privileged = false
    public var publishAllPorts = false
    public var readonlyRootfs = false
    public var securityOpt: [String]? = nil
    public var storageOpt: [String: String]? = nil
    public var tmpfs: [String: String]? = nil
    public var utsMode = ""
    public var usernsMode = ""
    public var shmSize: Int64 = 0
    public var sysctls: [String: String]? = nil
    public var runtime = ""
    /// Height and width; `[0, 0]` when unset.
    public var consoleSize: [UInt] = [0, 0]
    public var isolation = ""
    public var resources = Resources()
    public var mounts: [Mount]? = nil
    public var maskedPaths: [String]? = nil
    public var readonlyPaths: [String]? = nil
    public var initProcess: Bool? = nil

    public init() {}
    public init(json j: JSON) {
        binds = j["Binds"].stringArray
        containerIDFile = j["ContainerIDFile"].string ?? ""
        logConfig = LogConfig(json: j["LogConfig"])
        networkMode = j["NetworkMode"].string ?? ""
        portBindings = j["PortBindings"].map { $0.list(PortBinding.init(json:)) ?? [] }
        restartPolicy = RestartPolicyConfig(json: j["RestartPolicy"])
        autoRemove = j["AutoRemove"].bool ?? false
        volumeDriver = j["VolumeDriver"].string ?? ""
        volumesFrom = j["VolumesFrom"].stringArray
        annotations = j["Annotations"].stringMap
        capAdd = j["CapAdd"].strSlice
        capDrop = j["CapDrop"].strSlice
        cgroupnsMode = j["CgroupnsMode"].string ?? ""
        dns = j["Dns"].stringArray
        dnsOptions = j["DnsOptions"].stringArray
        dnsSearch = j["DnsSearch"].stringArray
        extraHosts = j["ExtraHosts"].stringArray
        groupAdd = j["GroupAdd"].stringArray
        ipcMode = j["IpcMode"].string ?? ""
        cgroup = j["Cgroup"].string ?? ""
        links = j["Links"].stringArray
        oomScoreAdj = j["OomScoreAdj"].goInt
        pidMode = j["PidMode"].string ?? ""
        privileged = j["Privileged"].bool ?? false
        publishAllPorts = j["PublishAllPorts"].bool ?? false
        readonlyRootfs = j["ReadonlyRootfs"].bool ?? false
        securityOpt = j["SecurityOpt"].stringArray
        storageOpt = j["StorageOpt"].stringMap
        tmpfs = j["Tmpfs"].stringMap
        utsMode = j["UTSMode"].string ?? ""
        usernsMode = j["UsernsMode"].string ?? ""
        shmSize = j["ShmSize"].goInt64
        sysctls = j["Sysctls"].stringMap
        runtime = j["Runtime"].string ?? ""
        if let size = j["ConsoleSize"].array, size.count == 2 { consoleSize = size.map { UInt(clamping: $0.int ?? 0) } }
        isolation = j["Isolation"].string ?? ""
        resources = Resources(json: j)
        mounts = j["Mounts"].list(Mount.init(json:))
        maskedPaths = j["MaskedPaths"].stringArray
        readonlyPaths = j["ReadonlyPaths"].stringArray
        initProcess = j["Init"].bool
    }

    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Binds", GoEncode.strings(binds))
        w.put("ContainerIDFile", .string(containerIDFile))
        w.put("LogConfig", logConfig.json)
        w.put("NetworkMode", .string(networkMode))
        w.put("PortBindings", GoEncode.map(portBindings) { .array($0.map(\.json)) })
        w.put("RestartPolicy", restartPolicy.json)
        w.put("AutoRemove", .bool(autoRemove))
        w.put("VolumeDriver", .string(volumeDriver))
        w.put("VolumesFrom", GoEncode.strings(volumesFrom))
        w.omitEmpty("Annotations", GoEncode.stringMap(annotations))
        w.put("CapAdd", GoEncode.strings(capAdd))
        w.put("CapDrop", GoEncode.strings(capDrop))
        w.put("CgroupnsMode", .string(cgroupnsMode))
        w.put("Dns", GoEncode.strings(dns))
        w.put("DnsOptions", GoEncode.strings(dnsOptions))
        w.put("DnsSearch", GoEncode.strings(dnsSearch))
        w.put("ExtraHosts", GoEncode.strings(extraHosts))
        w.put("GroupAdd", GoEncode.strings(groupAdd))
        w.put("IpcMode", .string(ipcMode))
        w.put("Cgroup", .string(cgroup))
        w.put("Links", GoEncode.strings(links))
        w.put("OomScoreAdj", .int(Int64(oomScoreAdj)))
        w.put("PidMode", .string(pidMode))
        w.put("Privileged", .bool(privileged))
        w.put("PublishAllPorts", .bool(publishAllPorts))
        w.put("ReadonlyRootfs", .bool(readonlyRootfs))
        w.put("SecurityOpt", GoEncode.strings(securityOpt))
        w.omitEmpty("StorageOpt", GoEncode.stringMap(storageOpt))
        w.omitEmpty("Tmpfs", GoEncode.stringMap(tmpfs))
        w.put("UTSMode", .string(utsMode))
        w.put("UsernsMode", .string(usernsMode))
        w.put("ShmSize", .int(shmSize))
        w.omitEmpty("Sysctls", GoEncode.stringMap(sysctls))
        w.omitEmpty("Runtime", .string(runtime))
        w.put("ConsoleSize", .array(consoleSize.map { .int(Int64(clamping: $0)) }))
        w.put("Isolation", .string(isolation))
        resources.write(into: &w)
        w.omitEmpty("Mounts", GoEncode.list(mounts))
        w.put("MaskedPaths", GoEncode.strings(maskedPaths))
        w.put("ReadonlyPaths", GoEncode.strings(readonlyPaths))
        if let initProcess { w.put("Init", .bool(initProcess)) }
        return w.json
    }
}
