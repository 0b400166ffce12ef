import Client
import Glibc
import JSON
import Sys

extension Berth {
    func exec(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-d", "--detach"), FlagSpec("-i", "--interactive"), FlagSpec("-t", "--tty"),
                FlagSpec("-u", "--user", value: true), FlagSpec("-e", "--env", value: true),
                FlagSpec("--env-file", value: true), FlagSpec("-w", "--workdir", value: true),
                FlagSpec("--privileged"), FlagSpec("--detach-keys", value: true),
            ], stopAtPositional: true)
        guard f.positionals.count >= 2 else { throw CLIError("\"exec\" requires at least 2 arguments.") }
        let container = f.positionals[0]
        let detach = f.bool("detach"), interactive = f.bool("interactive")
        var env: [String] = []
        for file in f.list("env-file") {
            guard let text = try? FS.readString(file) else { throw CLIError("open \(file): no such file or directory") }
            env += text.split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        env += f.list("env").map { e in e.contains("=") ? e : Proc.getenv(e).map { e + "=" + $0 } ?? e }
        if f.bool("tty") && interactive && isatty(0) == 0 { throw CLIError("the input device is not a TTY") }
        let body: JSON = [
            "User": .string(f.string("user") ?? ""), "Privileged": .bool(f.bool("privileged")), "Tty": .bool(f.bool("tty")),
            "AttachStdin": .bool(interactive && !detach), "AttachStdout": .bool(!detach), "AttachStderr": .bool(!detach),
            "DetachKeys": .string(f.string("detach-keys") ?? ""), "Env": JSON.strings(env),
            "WorkingDir": .string(f.string("workdir") ?? ""), "Cmd": JSON.strings(Array(f.positionals.dropFirst())),
        ]
        let id = try client.request("POST", "/containers/\(container)/exec", json: body).json["Id"].string ?? ""
        if detach {
            _ = try client.request("POST", "/exec/\(id)/start", json: ["Detach": true, "Tty": .bool(f.bool("tty"))])
            return 0
        }
        let tty = f.bool("tty")
        let conn = try client.hijack("/exec/\(id)/start", json: ["Detach": false, "Tty": .bool(tty)])
        AttachLoop.relay(client, conn, tty: tty, interactive: interactive, resizePath: "/exec/\(id)/resize")
        var info = try client.request("GET", "/exec/\(id)/json").json
        // The exit may be recorded a moment after the stream closes (as for attach).
        for _ in 0..<20 where info["Running"].bool == true && interactive {
            usleep(25_000)
            info = try client.request("GET", "/exec/\(id)/json").json
        }
        // The stream ended with the process still running: the detach keys were typed. The
        // docker CLI reports that as its "read escape sequence" error.
        if info["Running"].bool == true && interactive { Out.err("read escape sequence"); return 1 }
        return Int32(info["ExitCode"].int ?? 0)
    }
}
