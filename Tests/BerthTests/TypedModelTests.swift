import DockerAPI
import JSON
import OCI
import Testing

@testable import Engine

/// The typed Engine API model: a body read into Swift values and written back in Go's field
/// order, with Go's `omitempty` and its nil-versus-empty distinctions.
@Suite struct TypedModelTests {
    /// What dockerd 20.10 reported for `docker run --sysctl … --ulimit … --shm-size 128m`
    /// (captured on this project's reference machine).
    static let dockerdHostConfig =
        #"{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":134217728,"Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024},{"Name":"nproc","Hard":100,"Soft":100}],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}"#
    static let dockerdConfig =
        #"{"Hostname":"35bd697844f9","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sleep","1000"],"Image":"alpine:3.10","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"fake.image.ref":"alpine:3.10"}}"#

    @Test func dockerdsInspectRoundTripsByteForByte() throws {
        for text in [Self.dockerdHostConfig, Self.dockerdConfig] {
            let wire = try JSON.parse(text)
            let typed: JSON = text == Self.dockerdConfig ? ContainerConfig(json: wire).json : HostConfig(json: wire).json
            #expect(typed.serialized() == wire.serialized())
        }
    }

    @Test func daemonDefaultsMatchDockerdForAnEmptyRequest() throws {
        let ours = DockerShapes.hostConfig(
            HostConfig(json: [
                "ShmSize": 134_217_728, "Sysctls": ["net.ipv4.ip_forward": "1"],
                "Ulimits": [
                    ["Name": "nofile", "Hard": 2048, "Soft": 1024],
                    ["Name": "nproc", "Hard": 100, "Soft": 100],
                ],
            ]))
        #expect(ours.json.serialized() == (try JSON.parse(Self.dockerdHostConfig)).serialized())
    }

    @Test func fieldsClientsSendLandInGoOrderNotArrivalOrder() throws {
        // docker-py sends Init and Mounts before Binds; Go writes struct order.
        let h = HostConfig(json: ["Init": true, "Mounts": [["Type": "volume", "Target": "/anon"]], "Tmpfs": ["/run": ""], "Binds": ["/a:/b"]])
        let keys = h.json.object?.keys ?? []
        #expect(keys.first == "Binds")
        #expect(keys.last == "Init")
        #expect(keys.firstIndex(of: "Tmpfs")! < keys.firstIndex(of: "UTSMode")!)
        #expect(keys.firstIndex(of: "Mounts")! == keys.firstIndex(of: "MaskedPaths")! - 1)
        #expect(h.json["Mounts"] == [["Type": "volume", "Target": "/anon"]])
        // `Init: false` is a set pointer: shown. Absent: omitted.
        #expect(HostConfig(json: ["Init": false]).json["Init"] == .bool(false))
        #expect(HostConfig(json: [:]).json.object?.keys.contains("Init") == false)
    }

    @Test func strSliceTakesAStringOrAList() {
        #expect(ContainerConfig(json: ["Cmd": "echo hi"]).cmd == ["echo hi"])
        #expect(ContainerConfig(json: ["Entrypoint": ["/bin/sh", "-c"]]).entrypoint == ["/bin/sh", "-c"])
        #expect(HostConfig(json: ["CapAdd": "NET_ADMIN"]).capAdd == ["NET_ADMIN"])
        // nil and empty stay apart: an empty Entrypoint resets the image's.
        #expect(ContainerConfig(json: ["Entrypoint": []]).entrypoint == [])
        #expect(ContainerConfig(json: [:]).entrypoint == nil)
    }

    @Test func mapsAreWrittenWithSortedKeys() {
        let c = ContainerConfig(json: ["Labels": ["z": "1", "a": "2"], "ExposedPorts": ["443/tcp": [:], "80/tcp": [:]]])
        #expect(c.json["Labels"].object?.keys == ["a", "z"])
        #expect(c.json["ExposedPorts"].object?.keys == ["443/tcp", "80/tcp"])
        let h = HostConfig(json: ["PortBindings": ["81/tcp": [], "80/tcp": [["HostIp": "", "HostPort": "8080"]]]])
        #expect(h.json["PortBindings"].object?.keys == ["80/tcp", "81/tcp"])
        #expect(h.portBindings?["80/tcp"] == [PortBinding(hostPort: "8080")])
    }

    @Test func imageDefaultsMergeAsDockerdDoes() throws {
        let image = ImageConfig(json: [
            "config": [
                "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Entrypoint": ["/init"], "User": "app",
                "Labels": ["from": "image", "both": "image"], "Volumes": ["/data": [:]],
                "ExposedPorts": ["80/tcp": [:]], "StopSignal": "SIGQUIT",
            ],
            "rootfs": ["type": "layers", "diff_ids": []],
        ])
        let body = ContainerConfig(json: [
            "Image": "x", "Env": ["A=2", "B=3"], "Labels": ["both": "body"], "Entrypoint": [],
            "Cmd": ["echo"], "ExposedPorts": ["443/tcp": [:]],
        ])
        let c = DockerShapes.containerConfig(body: body, image: image, id: "0123456789abcdef")
        #expect(c.env == ["PATH=/bin", "A=2", "B=3"])
        #expect(c.entrypoint == nil)  // an empty Entrypoint clears the image's, and its Cmd
        #expect(c.cmd == ["echo"])
        #expect(c.user == "app")
        #expect(c.labels == ["from": "image", "both": "body"])
        #expect(c.volumes == ["/data"])
        #expect(c.exposedPorts == ["443/tcp", "80/tcp"])
        #expect(c.stopSignal == "SIGQUIT")
        #expect(c.hostname == "0123456789ab")
    }

    @Test func networkingConfigKeepsTheBodysEndpointOrder() {
        let n = NetworkingConfig(json: ["EndpointsConfig": ["b": ["Aliases": ["x"]], "a": ["IPAMConfig": ["IPv4Address": "10.0.0.2"]]]])
        #expect(n.endpoints.map(\.name) == ["b", "a"])
        #expect(n.endpoints[1].settings.ipv4Address == "10.0.0.2")
        #expect(n.endpoints[0].settings.json["IPAMConfig"] == .null)
    }

    @Test func execAndUpdateBodies() {
        let e = ExecConfig(json: ["Cmd": ["ls"], "Tty": true, "ConsoleSize": [24, 80], "AttachStdin": true])
        #expect(e.cmd == ["ls"] && e.tty && e.consoleSize == [24, 80] && e.attachStdout == nil)
        #expect(e.json["AttachStdout"] == .bool(false))
        let u = UpdateConfig(json: ["CpuShares": 512, "Ulimits": .null, "RestartPolicy": ["Name": "always"]])
        #expect(u.resources.cpuShares == 512 && u.restartPolicy.name == "always")
        #expect(u.fieldsGiven.contains("CpuShares") && !u.fieldsGiven.contains("Ulimits"))
    }

    @Test func containerDocumentsRoundTripThroughTheTypedModel() throws {
        let host = DockerShapes.hostConfig(HostConfig(json: ["Binds": ["/a:/b"], "Memory": 1_048_576, "Init": true]))
        var cfg = ContainerConfig(json: ["Image": "busybox", "Cmd": ["sh"], "Healthcheck": ["Test": ["CMD", "true"], "Interval": 1_000_000_000]])
        cfg.hostname = "abc"
        let c = Container(
            id: String(repeating: "a", count: 64), name: "n", path: "sh", args: [], config: cfg, hostConfig: host,
            image: Digest(parsing: "sha256:" + String(repeating: "b", count: 64))!)
        let back = try #require(Container(document: c.document))
        #expect(back.config == c.config)
        #expect(back.hostConfig == c.hostConfig)
        #expect(back.hostConfig.resources.memorySwap == 2 << 20)
        #expect(back.config.healthcheck?.interval == 1_000_000_000)
    }
}

@Suite struct ResourceCheckTests {
    let host = CgroupSupport(cpus: "0-1", mems: "0", blkioWeight: false, blkioThrottle: true, swappiness: true)

    func refusal(_ json: JSON) -> String? {
        var r = Resources(json: json)
        do { _ = try ResourceChecks.check(&r, update: false, host: host, cpuCount: 2); return nil } catch { return error.description }
    }

    @Test func refusedInDockerdsWords() {
        #expect(refusal(["Memory": 1024]) == "Minimum memory limit allowed is 6MB")
        #expect(refusal(["NanoCpus": 3_000_000_000]) == "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available")
        #expect(refusal(["CpusetCpus": "0,3"]) == "Requested CPUs are not available - requested 0,3, available: 0-1")
        #expect(refusal(["CpusetCpus": "1-0"]) == "Invalid value 1-0 for cpuset cpus: invalid format: 1-0")
        #expect(refusal(["MemorySwappiness": 200]) == "Invalid value: 200, valid memory swappiness range is 0-100")
        #expect(refusal(["IOMaximumBandwidth": 1]) == "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
        #expect(
            refusal(["DeviceRequests": [["Driver": "", "Count": -1, "Capabilities": [["gpu"]]]]])
                == "could not select device driver \"\" with capabilities: [[gpu]]")
        #expect(refusal(["CpuRealtimePeriod": 1000]) == "Your kernel does not support cgroup cpu real-time period")
        #expect(refusal(["CpusetCpus": "0-1", "Memory": 8_388_608, "MemorySwappiness": -1]) == nil)
    }

    @Test func unenforceableLimitsAreDiscardedWithAWarning() throws {
        var r = Resources(json: ["BlkioWeight": 300, "CpuPercent": 10])
        let warnings = try ResourceChecks.check(&r, update: false, host: host, cpuCount: 2)
        #expect(r.blkioWeight == 0 && r.cpuPercent == 0)
        #expect(warnings.count == 2)
    }

    @Test func cgroupParentCannotClimbOut() {
        #expect(ResourceChecks.cgroupParent(Resources()) == "/berth")
        #expect(ResourceChecks.cgroupParent(Resources(json: ["CgroupParent": "../../x/./y/"])) == "/x/y")
        #expect(ResourceChecks.cgroupParent(Resources(json: ["CgroupParent": "/"])) == "")
        #expect(ResourceChecks.parseList("0-2,5") == [0, 1, 2, 5])
        #expect(ResourceChecks.parseList("0-99999") == nil)
    }
}

@Suite struct TypedResponseTests {
    @Test func containerInspectHasDockerdsShape() {
        var r = ContainerInspectResponse()
        r.networkSettings.networks = [("bridge", EndpointResponse())]
        let j = r.json
        // dockerd 20.10's order (captured: inspect/container-default.json).
        #expect(
            j.object?.keys == [
                "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath",
                "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs",
                "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings",
            ])
        #expect(
            j["State"].object?.keys == [
                "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
                "StartedAt", "FinishedAt",
            ])
        #expect(
            j["NetworkSettings"].object?.keys == [
                "Bridge", "SandboxID", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
                "Ports", "SandboxKey", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
                "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                "IPv6Gateway", "MacAddress", "Networks",
            ])
        #expect(
            j["NetworkSettings"]["Networks"]["bridge"].object?.keys == [
                "IPAMConfig", "Links", "Aliases", "NetworkID", "EndpointID",
                "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                "GlobalIPv6Address", "GlobalIPv6PrefixLen", "MacAddress", "DriverOpts",
            ])
        // size=1 puts the sizes after GraphDriver, where dockerd has them
        r.sizeRw = 1
        r.sizeRootFs = 2
        let keys = r.json.object?.keys ?? []
        #expect(keys[keys.firstIndex(of: "GraphDriver")! + 1] == "SizeRw")
    }

    @Test func summaryPortsAndMounts() {
        var s = ContainerSummaryResponse()
        s.ports = [PortResponse(ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp"), PortResponse(privatePort: 443, type: "tcp")]
        s.sizeRw = 0
        var bind = MountPointResponse()
        bind.type = "bind"
        s.mounts = [bind]
        let j = s.json
        #expect(j["Ports"][1].object?.keys == ["PrivatePort", "Type"])
        #expect(j.object?.keys.firstIndex(of: "SizeRw") == (j.object?.keys.firstIndex(of: "Ports")).map { $0 + 1 })
        #expect(j["Mounts"][0].object?.keys == ["Type", "Source", "Destination", "Mode", "RW", "Propagation"])
        var ns = NetworkSettingsResponse()
        var ports: PortMap = ["80/tcp": [PortBinding(hostIP: "0.0.0.0", hostPort: "8080")]]
        ports["443/tcp"] = .some(nil)
        ns.ports = ports
        #expect(ns.json["Ports"] == ["443/tcp": nil, "80/tcp": [["HostIp": "0.0.0.0", "HostPort": "8080"]]])
    }
}
