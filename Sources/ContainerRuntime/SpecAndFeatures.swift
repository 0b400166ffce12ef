import JSON
import Sys

/// `spec`: runc's default config.json (a `sh` in ./rootfs with runc's default capabilities,
/// mounts, masked and read-only paths).
enum DefaultSpec {
    static let caps: JSON = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    static var json: JSON {
        [
            "ociVersion": .string(ContainerRuntimeEngine.ociVersion),
            "process": [
                "terminal": true, "user": ["uid": 0, "gid": 0], "args": ["sh"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/",
                "capabilities": ["bounding": caps, "effective": caps, "permitted": caps, "ambient": caps],
                "rlimits": [["type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024]], "noNewPrivileges": true,
            ],
            "root": ["path": "rootfs", "readonly": true],
            "hostname": "runc",
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
                [
                    "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                    "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
                ],
                ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
                ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
                ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
                ["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]],
            ],
            "linux": [
                "resources": ["devices": [["allow": false, "access": "rwm"]]],
                "namespaces": [["type": "pid"], ["type": "network"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "cgroup"]],
                "maskedPaths": [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            ],
        ]
    }
}

/// `features`: what this runtime implements (runtime-spec's features.md shape).
enum Features {
    static var json: JSON {
        [
            "ociVersionMin": "1.0.0",
            "ociVersionMax": .string(ContainerRuntimeEngine.ociVersion),
            "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            "mountOptions": JSON.strings(
                (MountOptions.table.keys.sorted() + MountOptions.propagation.keys.sorted() + ["tmpcopyup"]).sorted()),
            "linux": [
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
                "capabilities": JSON.strings(LinuxCapabilities.names.map { "CAP_" + $0 }),
                "cgroup": ["v1": true, "v2": true, "systemd": false, "systemdUser": false],
                "seccomp": [
                    "enabled": true,
                    "actions": [
                        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                        "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
                    ],
                    "operators": [
                        "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
                    ],
                    "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                ],
                "apparmor": ["enabled": true],
                "selinux": ["enabled": false],
            ],
            "annotations": ["io.github.berth.runtime.version": "1.0.0"],
        ]
    }
}
