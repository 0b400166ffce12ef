import DockerAPI
import Engine
import JSON
import Testing

/// Docker's `-v`, `--mount` and `--tmpfs` syntax, parsed without touching the host.
@Suite struct MountTests {
    @Test func bindSpecs() throws {
        let named = try MountParser.bind("data:/var/lib/data")
        #expect(named.type == .volume && named.name == "data" && named.destination == "/var/lib/data" && named.mode == "z" && named.rw)
        let ro = try MountParser.bind("/srv/x:/data:ro")
        #expect(ro.type == .bind && ro.source == "/srv/x" && !ro.rw && ro.mode == "ro" && ro.propagation == "rprivate")
        #expect(ro.ociJSON["options"].stringArray == ["rbind", "ro", "rprivate"])
        let anon = try MountParser.bind("/cache")
        #expect(anon.type == .volume && anon.anonymous && anon.name.isEmpty)
        let shared = try MountParser.bind("/a/../b:/c/./d:rshared")
        #expect(shared.source == "/b" && shared.destination == "/c/d" && shared.propagation == "rshared")
        #expect(try MountParser.bind("v1:/x:nocopy").noCopy)
    }

    @Test func badSpecsAreRefusedInDockersWords() {
        #expect(throws: MountParser.Failure.self) { try MountParser.bind("a:b:c:d") }
        do { _ = try MountParser.bind("data:relative"); Issue.record("accepted") } catch {
            #expect(error.message.contains("mount path must be absolute"))
        }
        do { _ = try MountParser.bind("bad/name:/x"); Issue.record("accepted") } catch {
            #expect(error.message.contains("includes invalid characters for a local volume name"))
        }
        do { _ = try MountParser.bind("/a:/x:bogus"); Issue.record("accepted") } catch {
            #expect(error.message == "invalid volume specification: '/a:/x:bogus'")
        }
        do {
            _ = try MountParser.resolve(binds: ["a1:/x", "/h:/x"], mounts: [], tmpfs: [:], volumes: [], volumesFrom: [])
            Issue.record("accepted")
        } catch { #expect(error.message == "Duplicate mount point: /x") }
    }

    @Test func mountObjectsAndTmpfs() throws {
        let v = try MountParser.mount(Mount(json: ["Type": "volume", "Target": "/anon"]))
        #expect(v.anonymous && v.mode == "z" && v.driver == "local")
        let t = try MountParser.mount(Mount(json: ["Type": "tmpfs", "Target": "/t", "TmpfsOptions": ["SizeBytes": 1_048_576, "Mode": 0o1777]]))
        #expect(t.ociJSON["options"].stringArray == ["noexec", "nosuid", "nodev", "rprivate", "size=1024k", "mode=1777"])
        let hidden = try MountParser.tmpfs("/run/t", "size=1m,mode=1777")
        #expect(hidden.hidden && hidden.tmpfsOptions == ["size=1m", "mode=1777"])
        do { _ = try MountParser.mount(Mount(json: ["Type": "bogus", "Target": "/x"])); Issue.record("accepted") } catch {
            #expect(error.message == "mount type unknown: \"bogus\"")
        }
    }

    @Test func imageVolumesYieldToExplicitMounts() throws {
        let all = try MountParser.resolve(binds: ["named:/data"], mounts: [], tmpfs: [:], volumes: ["/data", "/other/"], volumesFrom: [])
        #expect(all.map(\.destination) == ["/data", "/other"])
        #expect(all[0].name == "named" && all[1].anonymous)
    }
}
