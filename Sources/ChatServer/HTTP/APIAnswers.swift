import ChatCore
import EventIO

/// The HTTP API's answers: JSON objects, and errors as `{"error": code, "message": text}`.
extension APIHandlers {
    func apiJSON(_ conn: Connection, _ status: Int = 200, _ fields: (inout JSONWriter.ObjectWriter) -> Void) {
        var out: [UInt8] = []
        JSONWriter.object(&out, fields)
        out.append(UInt8(ascii: "\n"))
        conn.respond(
            HTTPResponse.encode(
                status: status, headers: [("Cache-Control", "no-store")], contentType: "application/json", body: out))
    }

    func apiError(_ conn: Connection, _ error: APIError) {
        apiError(conn, error.status, error.code, error.message, headers: error.headers.map { ($0.name, $0.value) })
    }

    func apiError(
        _ conn: Connection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []
    ) {
        var out: [UInt8] = []
        JSONWriter.object(&out) { o in
            o.field("error", code)
            o.field("message", message)
        }
        out.append(UInt8(ascii: "\n"))
        conn.respond(
            HTTPResponse.encode(
                status: status, headers: headers + [("Cache-Control", "no-store")], contentType: "application/json",
                body: out))
    }

    func unavailable(_ conn: Connection) {
        apiError(conn, .unavailable)
    }
}
