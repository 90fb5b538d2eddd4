import ChatCore
import EventIO

/// Reads the web client's folder (WEB_ROOT) into a `StaticSite`: files of the types
/// `StaticSite` serves, up to four folders deep, hidden files skipped. Done at start
/// and on SIGHUP, never per request.
enum WebRoot {
    static let maxDepth = 4

    /// The site and the problems worth a log line (unreadable folder, a file too large).
    /// When nothing can be served, the last problem says why (the folder is missing or
    /// unreadable, or holds no file to serve).
    static func load(_ root: String) -> (site: StaticSite, problems: [String]) {
        var site = StaticSite()
        var problems: [String] = []
        guard !root.isEmpty else { return (site, []) }
        guard let top = Platform.listDirectory(root) else { return (site, ["folder \(root) is missing or unreadable"]) }
        func walk(_ folder: String, _ urlPrefix: String, _ entries: [(name: String, isDirectory: Bool)], depth: Int) {
            for entry in entries where !entry.name.hasPrefix(".") {
                let path = folder + "/" + entry.name
                let url = urlPrefix + "/" + entry.name
                if entry.isDirectory {
                    guard depth < maxDepth else { continue }
                    guard let inner = Platform.listDirectory(path) else {
                        problems.append("cannot read folder \(path)")
                        continue
                    }
                    walk(path, url, inner, depth: depth + 1)
                    continue
                }
                guard StaticSite.contentType(of: entry.name) != nil else { continue }
                guard let body = Platform.readFile(path, limit: StaticSite.maxFileBytes) else {
                    problems.append("\(path): unreadable or larger than \(StaticSite.maxFileBytes) bytes")
                    continue
                }
                do { try site.add(path: url, body: body) } catch {
                    let why =
                        error == .tooMany
                        ? "more than \(StaticSite.maxFiles) files" : "over \(StaticSite.maxTotalBytes) bytes in all"
                    problems.append("\(path): \(why)")
                    return
                }
            }
        }
        walk(root, "", top, depth: 0)
        if site.fileCount == 0 {
            problems.append("folder \(root) has no file to serve")
        } else if site.assets["/"] == nil {
            problems.append("no index.html in \(root)")
        }
        return (site, problems)
    }
}
