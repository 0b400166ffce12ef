/// Docker-style generated names (`adjective_scientist`) and IDs.
enum Names {
    static let adjectives = [
        "admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy",
        "charming", "clever", "cool", "compassionate", "competent", "confident", "crazy", "dazzling", "determined", "eager",
        "ecstatic", "elastic", "elegant", "epic", "exciting", "fervent", "festive", "focused", "friendly", "frosty", "gallant",
        "gifted", "goofy", "gracious", "happy", "hopeful", "hungry", "inspiring", "intelligent", "jolly", "jovial", "keen",
        "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice",
        "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky",
        "quizzical", "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
        "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous",
        "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
    ]
    static let surnames = [
        "albattani", "allen", "archimedes", "babbage", "bardeen", "bell", "bohr", "booth", "borg", "bose",
        "brahmagupta", "cannon", "carson", "cerf", "chandrasekhar", "curie", "darwin", "diffie", "dijkstra", "einstein",
        "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg",
        "goodall", "hamilton", "hawking", "heisenberg", "hodgkin", "hopper", "hypatia", "jackson", "jang", "johnson", "kalam",
        "kepler", "knuth", "lamport", "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "mcclintock", "meitner", "mendel",
        "mirzakhani", "morse", "newton", "nobel", "noether", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
        "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon", "shaw", "sinoussi", "stonebraker", "swanson",
        "tesla", "thompson", "torvalds", "turing", "varahamihira", "volhard", "wescoff", "wilbur", "williams", "wing",
        "wozniak", "wright", "yalow", "yonath",
    ]

    static func random() -> String { "\(adjectives.randomElement()!)_\(surnames.randomElement()!)" }

    static func newID() -> String {
        var s = ""
        for _ in 0..<4 { let v = UInt64.random(in: 0...UInt64.max); let h = String(v, radix: 16); s += String(repeating: "0", count: 16 - h.count) + h }
        return s
    }

    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`
    static func isValid(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard b.count >= 2 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        return alnum(b[0]) && b.dropFirst().allSatisfy { alnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }
}

/// Signal names as Docker accepts them: `KILL`, `SIGKILL`, `9`.
public enum Signals {
    static let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
        "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
        "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26,
        "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    public static func parse(_ s: String) -> Int32? {
        if let n = Int32(s), n > 0, n < 65 { return n }
        var u = s.uppercased()
        if u.hasPrefix("SIG") { u.removeFirst(3) }
        return table[u]
    }
}
