import JSON

/// moby's `container.HealthConfig`. Durations are nanoseconds, as on the wire.
public struct HealthcheckConfig: GoJSONValue {
    public var test: [String]? = nil
    public var interval: Int64 = 0
    public var timeout: Int64 = 0
    public var startPeriod: Int64 = 0
    /// API 1.44.
    public var startInterval: Int64 = 0
    public var retries = 0

    public init() {}
    public init(json j: JSON) {
        test = j["Test"].stringArray
        interval = j["Interval"].goInt64
        timeout = j["Timeout"].goInt64
        startPeriod = j["StartPeriod"].goInt64
        startInterval = j["StartInterval"].goInt64
        retries = j["Retries"].goInt
    }

    public var json: JSON {
        var w = GoObjectWriter()
        w.omitEmpty("Test", GoEncode.strings(test))
        w.omitEmpty("Interval", .int(interval))
        w.omitEmpty("Timeout", .int(timeout))
        w.omitEmpty("StartPeriod", .int(startPeriod))
        w.omitEmpty("StartInterval", .int(startInterval))
        w.omitEmpty("Retries", .int(Int64(retries)))
        return w.json
    }
}

/// moby's `container.Config`: what a container runs, portable across hosts.
public struct ContainerConfig: GoJSONValue {
    public var hostname = ""
    public var domainname = ""
    public var user = ""
    public var attachStdin = false
    public var attachStdout = false
    public var attachStderr = false
    /// `map[nat.Port]struct{}`: the keys (`80/tcp`).
    public var exposedPorts: [String]? = nil
    public var tty = false
    public var openStdin = false
    public var stdinOnce = false
    public var env: [String]? = nil
    public var cmd: [String]? = nil
    public var healthcheck: HealthcheckConfig? = nil
    public var argsEscaped = false
    public var image = ""
    /// `map[string]struct{}`: the container paths.
    public var volumes: [String]? = nil
    public var workingDir = ""
    public var entrypoint: [String]? = nil
    public var networkDisabled = false
    public var macAddress = ""
    public var onBuild: [String]? = nil
    public var labels: [String: String]? = nil
    public var stopSignal = ""
    public var stopTimeout: Int? = nil
    public var shell: [String]? = nil

    public init() {}
    public init(json j: JSON) {
        hostname = j["Hostname"].string ?? ""
        domainname = j["Domainname"].string ?? ""
        user = j["User"].string ?? ""
        attachStdin = j["AttachStdin"].bool ?? false
        attachStdout = j["AttachStdout"].bool ?? false
        attachStderr = j["AttachStderr"].bool ?? false
        exposedPorts = j["ExposedPorts"].object?.keys
        tty = j["Tty"].bool ?? false
        openStdin = j["OpenStdin"].bool ?? false
        stdinOnce = j["StdinOnce"].bool ?? false
        env = j["Env"].stringArray
        cmd = j["Cmd"].strSlice
        healthcheck = j["Healthcheck"].object == nil ? nil : HealthcheckConfig(json: j["Healthcheck"])
        argsEscaped = j["ArgsEscaped"].bool ?? false
        image = j["Image"].string ?? ""
        volumes = j["Volumes"].object?.keys
        workingDir = j["WorkingDir"].string ?? ""
        entrypoint = j["Entrypoint"].strSlice
        networkDisabled = j["NetworkDisabled"].bool ?? false
        macAddress = j["MacAddress"].string ?? ""
        onBuild = j["OnBuild"].stringArray
        labels = j["Labels"].stringMap
        stopSignal = j["StopSignal"].string ?? ""
        stopTimeout = j["StopTimeout"].int.map { Int(clamping: $0) }
        shell = j["Shell"].strSlice
    }

    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Hostname", .string(hostname))
        w.put("Domainname", .string(domainname))
        w.put("User", .string(user))
        w.put("AttachStdin", .bool(attachStdin))
        w.put("AttachStdout", .bool(attachStdout))
        w.put("AttachStderr", .bool(attachStderr))
        w.omitEmpty("ExposedPorts", GoEncode.set(exposedPorts))
        w.put("Tty", .bool(tty))
        w.put("OpenStdin", .bool(openStdin))
        w.put("StdinOnce", .bool(stdinOnce))
        w.put("Env", GoEncode.strings(env))
        w.put("Cmd", GoEncode.strings(cmd))
        if let healthcheck { w.put("Healthcheck", healthcheck.json) }
        w.omitEmpty("ArgsEscaped", .bool(argsEscaped))
        w.put("Image", .string(image))
        w.put("Volumes", GoEncode.set(volumes))
        w.put("WorkingDir", .string(workingDir))
        w.put("Entrypoint", GoEncode.strings(entrypoint))
        w.omitEmpty("NetworkDisabled", .bool(networkDisabled))
        w.omitEmpty("MacAddress", .string(macAddress))
        w.put("OnBuild", GoEncode.strings(onBuild))
        w.put("Labels", GoEncode.stringMap(labels))
        w.omitEmpty("StopSignal", .string(stopSignal))
        if let stopTimeout { w.put("StopTimeout", .int(Int64(stopTimeout))) }
        w.omitEmpty("Shell", GoEncode.strings(shell))
        return w.json
    }
}
