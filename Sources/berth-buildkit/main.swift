import BuildClient
import Client
import Glibc
import JSON
import Sys

// `berth build`'s BuildKit session, in a process of its own so that the CLI, which starts for
// every command, does not carry gRPC and HTTP/2 (see SessionBuild). The build's description
// comes as JSON on stdin (secrets' values never on the command line); events go to stdout as
// JSON lines for the CLI to draw.
//
//   {"host": "unix://…", "sharedKey": "…", "directories": {"context": "/abs", "dockerfile": "/abs"},
//    "secrets": [{"id": "…", "file": "/abs"} | {"id": "…", "value": "<base64>"}],
//    "ssh": [{"id": "…", "path": "/agent.sock"}], "query": [["t", "app"], …]}

func emit(_ j: JSON) {
    var bytes = Array(j.serialized().utf8)
    bytes.append(10)
    _ = try? FS.writeAll(fd: 1, bytes)
}

func fail(_ message: String) -> Never {
    emit(["error": .string(message), "errorDetail": ["message": .string(message)]])
    exit(1)
}

signal(SIGPIPE, SIG_IGN)
guard let input = try? FS.readAll(fd: 0), let spec = try? JSON.parse(input) else { fail("berth-buildkit: expected the build's description as JSON on stdin") }
var offer = SessionOffer()
for (k, v) in spec["directories"].object ?? JSONObject() { if let p = v.string { offer.directories[k] = p } }
for s in spec["secrets"].array ?? [] {
    guard let id = s["id"].string else { continue }
    if let f = s["file"].string {
        offer.secrets[id] = .file(f)
    } else if let v = s["value"].string.flatMap(Base64.decode) {
        offer.secrets[id] = .value(v)
    }
}
for a in spec["ssh"].array ?? [] { if let id = a["id"].string, let p = a["path"].string { offer.agents[id] = p } }
let query = (spec["query"].array ?? []).compactMap { pair -> (String, String)? in
    guard let kv = pair.array, kv.count == 2, let k = kv[0].string, let v = kv[1].string else { return nil }
    return (k, v)
}
do {
    let client = try DaemonClient(host: spec["host"].string)
    let ok = try await SessionBuild.run(client: client, offer: offer, sharedKey: spec["sharedKey"].string ?? "", query: query, emit: emit)
    exit(ok ? 0 : 1)
} catch {
    fail("\(error)")
}
