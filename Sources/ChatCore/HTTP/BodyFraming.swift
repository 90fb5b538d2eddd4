/// How a request's body is framed: by one Content-Length only (the HTTP API's JSON;
/// no chunked uploads), bounded. Strict where HTTP lets servers choose, as nginx is:
/// a request whose framing two parsers could read two ways (two Content-Length
/// fields, a sign, a list) is refused rather than guessed at, since a proxy in front
/// may have guessed otherwise (request smuggling).
public enum BodyFraming {
    /// The body's length in bytes (0 without a Content-Length), or the answer that
    /// refuses the request:
    /// - 411 for any Transfer-Encoding (a chunked body is not read);
    /// - 400 for a Content-Length that is not digits only (RFC 9110's `1*DIGIT`):
    ///   `+32`, `-1`, `0x20`, `3 2`, `32, 32`, an empty value;
    /// - 400 for more than one Content-Length field, even with equal values;
    /// - 413 for a length over `maxBytes`, however many digits it has (no overflow).
    public static func contentLength(of request: HTTPRequest, maxBytes: Int) -> Result<Int, HTTPError> {
        if request.header("transfer-encoding") != nil {
            return .failure(HTTPError(411, "send a Content-Length, not a chunked body"))
        }
        let values = request.headerValues("content-length")
        guard let text = values.first else { return .success(0) }
        if values.count > 1 { return .failure(HTTPError(400, "more than one Content-Length")) }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .failure(HTTPError(400, "malformed Content-Length"))
        }
        var length = 0
        for digit in text.utf8 {
            let (tens, o1) = length.multipliedReportingOverflow(by: 10)
            let (next, o2) = tens.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if o1 || o2 || next > maxBytes {
                return .failure(HTTPError(413, "request body larger than \(maxBytes) bytes"))
            }
            length = next
        }
        return .success(length)
    }
}
