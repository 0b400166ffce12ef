/// Go's `strconv` parsers, where Berth reads what dockerd or the docker CLI reads with them.
public enum GoStrconv {
    /// `ParseBool`.
    public static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }
}
