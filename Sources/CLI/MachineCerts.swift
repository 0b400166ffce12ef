import Glibc
import Sys

extension Berth {
    /// `berth machine certs HOST…`: what docker-machine set up for a remote daemon — a CA, a
    /// server certificate naming the hosts, a client certificate — with OpenSSL: ECDSA P-256,
    /// the CA valid 5 years, the others 825 days. Prints the daemon's flags and the client's
    /// environment.
    func machine(_ args: [String]) throws -> Int32 {
        guard args.first == "certs" else { throw CLIError("usage: berth machine certs [--dir DIR] HOST...", code: 1) }
        let f = try Flags.parse(Array(args.dropFirst()), [FlagSpec("--dir", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"berth machine certs\" requires at least 1 host name or address.", code: 1) }
        let hosts = f.positionals
        let dir = f.string("dir") ?? ((Proc.getenv("HOME") ?? "/root") + "/.docker/machine/certs/" + hosts[0])
        if FS.exists(dir + "/ca/key.pem") { throw CLIError("\(dir) already holds a CA: remove it or choose another --dir", code: 1) }
        for sub in ["ca", "server", "client"] { try FS.mkdirAll(dir + "/" + sub, mode: 0o700) }
        func openssl(_ a: [String]) throws {
            let out: Proc.Output
            do { out = try Proc.run(["openssl"] + a) } catch { throw CLIError("openssl: \(error) (is openssl installed?)", code: 1) }
            guard out.status == 0 else { throw CLIError("openssl \(a.first ?? ""): \(out.stderrText)", code: 1) }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + ec + [
                "-keyout", dir + "/ca/key.pem", "-out", dir + "/ca/ca.pem", "-days", "1825", "-subj", "/CN=berth-ca-" + hosts[0],
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        let sans = hosts.map { h in h.allSatisfy { $0.isNumber || $0 == "." } || h.contains(":") ? "IP:" + h : "DNS:" + h }.joined(separator: ",")
        for (name, ext, cn) in [
            ("server", "subjectAltName=\(sans)\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n", hosts[0]),
            ("client", "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n", "berth-client"),
        ] {
            let d = dir + "/" + name
            try FS.writeAtomic(d + "/ext.cnf", ext)
            try openssl(["req"] + ec + ["-keyout", d + "/key.pem", "-out", d + "/csr.pem", "-subj", "/CN=" + cn])
            try openssl([
                "x509", "-req", "-in", d + "/csr.pem", "-CA", dir + "/ca/ca.pem", "-CAkey", dir + "/ca/key.pem", "-CAcreateserial",
                "-out", d + "/cert.pem", "-days", "825", "-extfile", d + "/ext.cnf",
            ])
            unlink(d + "/csr.pem")
            unlink(d + "/ext.cnf")
            chmod(d + "/key.pem", 0o600)
            try FS.writeAtomic(d + "/ca.pem", try FS.read(dir + "/ca/ca.pem"))
        }
        Out.print(
            """
            # On \(hosts[0]) (copy \(dir)/server there):
            berthd -H unix:///run/berth/berth.sock -H tcp://0.0.0.0:2376 --tlsverify --tlscacert \(dir)/server/ca.pem --tlscert \(dir)/server/cert.pem --tlskey \(dir)/server/key.pem
            # For clients (berth, docker, docker-py, compose):
            export DOCKER_HOST=tcp://\(hosts[0].contains(":") ? "[" + hosts[0] + "]" : hosts[0]):2376
            export DOCKER_TLS_VERIFY=1
            export DOCKER_CERT_PATH=\(dir)/client
            """)
        return 0
    }
}
