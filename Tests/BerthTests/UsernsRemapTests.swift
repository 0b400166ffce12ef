import Archive
import JSON
import Testing

@testable import Runtime

/// userns-remap: which ranges a setting names, how the spec carries the user namespace, and how
/// ids shift between a remapped container and the host.
@Suite struct UsernsRemapTests {
    let passwd = "root:x:0:0::/root:/bin/sh\ndockremap:x:999:995::/home/dockremap:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    let group = "root:x:0:\ndockremap:x:995:\nstaff:x:50:\n"
    let subuid = "alice:200000:65536\ndockremap:100000:65536\n999:300000:10\n"
    let subgid = "staff:400000:65536\ndockremap:100000:65536\n"

    @Test func settingsNameUsersGroupsAndIDs() throws {
        #expect(
            try UsernsRemap.resolve("default", subuid: subuid, subgid: subgid, passwd: passwd, group: group) == .init(uid: 100000, gid: 100000, size: 65536))
        // A uid finds the name's range too (the first line that matches either wins).
        #expect(
            try UsernsRemap.resolve("999:staff", subuid: subuid, subgid: subgid, passwd: passwd, group: group) == .init(uid: 100000, gid: 400000, size: 65536))
        #expect(throws: UsernsRemap.Failure.self) { try UsernsRemap.resolve("alice", subuid: subuid, subgid: subgid, passwd: passwd, group: group) }
        #expect(throws: UsernsRemap.Failure.self) { try UsernsRemap.resolve("", subuid: subuid, subgid: subgid, passwd: passwd, group: group) }
        // Ranges that overflow 32 bits or are empty are not ranges.
        #expect(throws: UsernsRemap.Failure.self) {
            try UsernsRemap.resolve("bob", subuid: "bob:4294967000:65536\n", subgid: "bob:1:0\n", passwd: "", group: "")
        }
    }

    @Test func theSpecJoinsTheUserNamespaceWithMappings() {
        var s = BundleSpec(
            id: "c", rootfs: "/r", args: ["sh"], env: [], cwd: "/", user: .root, hostname: "h", resolvConf: "/x", hostsFile: "/y", hostnameFile: "/z")
        s.userNamespace = UsernsRemap(uid: 100000, gid: 200000, size: 65536)
        s.userNamespacePath = "/run/berth/userns/c"
        let linux = OCISpecBuilder.build(s)["linux"]
        #expect(linux["namespaces"].array?.contains(["type": "user", "path": "/run/berth/userns/c"]) == true)
        #expect(linux["uidMappings"] == [["containerID": 0, "hostID": 100000, "size": 65536]])
        #expect(linux["gidMappings"] == [["containerID": 0, "hostID": 200000, "size": 65536]])
        #expect(linux["sysctl"]["net.ipv4.ping_group_range"] == "0 65535")
    }

    @Test func idsShiftBothWaysAndOutsideIsNobody() {
        let shift = IDShift(uid: 100000, gid: 200000, size: 65536)
        #expect(shift.hostUID(0) == 100000 && shift.hostGID(1000) == 201000 && shift.hostUID(65536) == nil)
        #expect(shift.containerUID(100033) == 33 && shift.containerGID(200000) == 0)
        #expect(shift.containerUID(0) == 65534 && shift.containerUID(165536) == 65534)
    }
}
