// berth-runtime: Berth's OCI runtime (runtime-spec 1.1) with runc's command line.
// It first makes sure it runs from a sealed copy of itself (or a read-only bind), because a
// container's init is a fork of this process until it execs the container's program.
import CRuntime
import ContainerRuntime
import Glibc
import Sys

let arguments = Array(CommandLine.arguments.dropFirst())
let spawning = arguments.contains { ["create", "run", "exec"].contains($0) }
if spawning {
    let rc = withCStrings(CommandLine.arguments) { argv in withCStrings(Proc.currentEnvironment()) { envp in brt_ensure_sealed(argv, envp) } }
    if rc != 0 {
        try? FS.writeAll(fd: 2, Array("berth-runtime: cannot run from a sealed copy of itself: \(String(cString: strerror(errno)))\n".utf8))
        exit(1)
    }
}
callerMountNamespace = brt_caller_mount_namespace()
var command = RuntimeCommand(arguments: arguments)
exit(command.main())
