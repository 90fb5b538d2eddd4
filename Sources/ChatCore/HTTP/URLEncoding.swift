/// Percent-decoding of paths and `application/x-www-form-urlencoded` query strings.
public enum URLEncoding {
    /// Decodes `%XX` escapes (and `+` as space when asked). Returns nil for a broken
    /// escape or when the result is not valid UTF-8.
    public static func decode(_ bytes: ArraySlice<UInt8>, plusAsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
                continue
            }
            out.append(plusAsSpace && c == UInt8(ascii: "+") ? 32 : c)
            i += 1
        }
        guard UTF8Validator.isValid(out) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits `a=1&b=2` into decoded pairs; a bare `a` has an empty value.
    public static func parseQuery(_ bytes: ArraySlice<UInt8>) -> [(name: String, value: String)]? {
        var result: [(name: String, value: String)] = []
        for part in bytes.split(separator: UInt8(ascii: "&")) {
            let eq = part.firstIndex(of: UInt8(ascii: "="))
            guard let name = decode(part[..<(eq ?? part.endIndex)], plusAsSpace: true),
                let value = decode(eq.map { part[($0 + 1)...] } ?? [], plusAsSpace: true)
            else { return nil }
            result.append((name, value))
        }
        return result
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
