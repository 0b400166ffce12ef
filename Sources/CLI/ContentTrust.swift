import Glibc
import Sys

/// Docker Content Trust. The docker CLI verifies an image's signature through a Notary server
/// before `pull`, `run` and `create` use a tag, and signs on `push`, whenever
/// `DOCKER_CONTENT_TRUST` holds anything but a false value, unless `--disable-content-trust`
/// (whose default is the opposite of that variable) turns it off. Berth has no Notary client.
/// A pull or run that was asked to verify and went ahead unverified would be a silent downgrade
/// of what the user asked for, so such a command is refused; turning trust off is taken, as
/// scripts pass `--disable-content-trust` for exactly that.
enum ContentTrust {
    static let flag = FlagSpec("--disable-content-trust")

    /// Whether `DOCKER_CONTENT_TRUST` asks for trust, as the docker CLI reads it: any value but an
    /// empty or a false one (a value that is no boolean counts as true).
    static func enabled(byEnvironment value: String?) -> Bool {
        guard let value, !value.isEmpty else { return false }
        return GoStrconv.parseBool(value) ?? true
    }

    static var environment: String? { getenv("DOCKER_CONTENT_TRUST").map { String(cString: $0) } }

    /// Whether trust is off for a command with these flags. A flag value that is no boolean is a
    /// usage error (125), as pflag makes it.
    static func disabled(_ f: Flags, environment: String? = ContentTrust.environment) throws -> Bool {
        guard let v = f.string("disable-content-trust") else { return !enabled(byEnvironment: environment) }
        guard let b = GoStrconv.parseBool(v) else {
            throw CLIError("invalid argument \"\(v)\" for \"--disable-content-trust\" flag: strconv.ParseBool: parsing \"\(v)\": invalid syntax", code: 125)
        }
        return b
    }

    /// Throws unless a command may go ahead without verifying (or signing) `image`. A reference by
    /// digest needs no trust (the docker CLI skips it too); `code` is the exit status the command
    /// gives a refusal.
    static func requireOff(_ f: Flags, image: String, code: Int32, environment: String? = ContentTrust.environment) throws {
        if try disabled(f, environment: environment) || image.contains("@") { return }
        throw CLIError(
            "content trust is not supported by berth: the signature of \(image) cannot be verified (there is no Notary client); "
                + "unset DOCKER_CONTENT_TRUST or pass --disable-content-trust",
            code: code)
    }
}
