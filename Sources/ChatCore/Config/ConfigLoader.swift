/// What the command line asks for.
public enum LaunchRequest: Equatable, Sendable {
    case run(Config, warnings: [String])
    case help
    case version
    /// `--env-example`: print the text of `.env.example`.
    case envExample
    /// `--healthcheck`: ask the server these settings describe for /healthz (a
    /// container's HEALTHCHECK: it finds the port wherever it was set).
    case healthcheck(Config)
}

public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Builds the configuration: defaults < `.env` < environment < flags (later wins).
/// Pure: the environment and file reading are passed in.
public enum ConfigLoader {
    public static let defaultEnvFile = ".env"

    /// `readFile` returns nil when the file does not exist.
    public static func load(
        arguments: [String], environment: [String: String], readFile: (String) -> String?
    ) -> Result<LaunchRequest, ConfigError> {
        // Flags first (they name the .env file), applied last.
        var flags: [(key: ConfigKey, value: String)] = []
        var envFile = defaultEnvFile
        var envFileExplicit = false
        var healthcheck = false
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            if arg == "-h" || arg == "--help" { return .success(.help) }
            if arg == "--version" { return .success(.version) }
            if arg == "--env-example" { return .success(.envExample) }
            if arg == "--healthcheck" {
                healthcheck = true
                continue
            }
            guard arg.hasPrefix("--") else {
                return .failure(ConfigError("unexpected argument \"\(arg)\" (see --help)"))
            }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            func takeValue(_ isBool: Bool) -> String? {
                if let value { return value }
                if i < arguments.count, !(isBool && arguments[i].hasPrefix("--")) {
                    i += 1
                    return arguments[i - 1]
                }
                return isBool ? "true" : nil
            }
            if name == "env-file" {
                guard let v = takeValue(false) else { return .failure(ConfigError("--env-file needs a path")) }
                envFile = v
                envFileExplicit = true
                continue
            }
            guard let key = ConfigKeys.all.first(where: { $0.flag == "--" + name }) else {
                return .failure(ConfigError("unknown option --\(name) (see --help)"))
            }
            guard let v = takeValue(key.isBool) else {
                return .failure(ConfigError("\(key.name): \(key.flag) needs a value"))
            }
            flags.append((key, v))
        }

        var config = Config()
        var warnings: [String] = []
        if let text = readFile(envFile) {
            let entries: [(key: String, value: String, line: Int)]
            switch parseDotEnv(text) {
            case .success(let e): entries = e
            case .failure(let error): return .failure(ConfigError("\(envFile): \(error.message)"))
            }
            for entry in entries {
                guard let key = ConfigKeys.key(named: entry.key) else {
                    warnings.append("\(envFile):\(entry.line): unknown key \(entry.key) ignored")
                    continue
                }
                if let problem = key.apply(&config, entry.value) {
                    return .failure(
                        ConfigError("\(key.name) \(problem), got \"\(entry.value)\" (\(envFile) line \(entry.line))"))
                }
            }
        } else if envFileExplicit {
            return .failure(ConfigError("env file \(envFile) not found"))
        }
        for key in ConfigKeys.all {
            guard let value = environment[key.name] else { continue }
            if let problem = key.apply(&config, value) {
                return .failure(ConfigError("\(key.name) \(problem), got \"\(value)\" (environment)"))
            }
        }
        for (key, value) in flags {
            if let problem = key.apply(&config, value) {
                return .failure(ConfigError("\(key.name) \(problem), got \"\(value)\" (\(key.flag))"))
            }
        }
        return .success(healthcheck ? .healthcheck(config) : .run(config, warnings: warnings))
    }

    /// Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, blank
    /// lines, values in double quotes (with \n \t \" \\ escapes) or single quotes
    /// (literal); unquoted values end at ` #`.
    public static func parseDotEnv(_ text: String) -> Result<[(key: String, value: String, line: Int)], ConfigError> {
        var entries: [(key: String, value: String, line: Int)] = []
        // Split on scalars: as Characters, "\r\n" is one grapheme and never equals "\n".
        var scalars = Substring(text).unicodeScalars
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }  // a byte order mark from Windows editors
        for (index, rawLine) in scalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var line = Substring(String(rawLine))
            if line.unicodeScalars.last == "\r" { line = Substring(String(line.unicodeScalars.dropLast())) }
            line = line.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).trimmingSpaces() }
            guard let eq = line.firstIndex(of: "=") else {
                return .failure(ConfigError("line \(lineNumber): expected KEY=value"))
            }
            let key = String(line[..<eq].trimmingSpaces())
            guard !key.isEmpty, key.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
                return .failure(ConfigError("line \(lineNumber): invalid key \"\(key)\""))
            }
            var rest = line[line.index(after: eq)...].trimmingSpaces()
            var value = ""
            if let quote = rest.first, quote == "\"" || quote == "'" {
                rest = rest.dropFirst()
                var closed = false
                var escaped = false
                var end = rest.startIndex
                for index in rest.indices {
                    let ch = rest[index]
                    if quote == "\"" && escaped {
                        switch ch {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "\"", "\\": value.append(ch)
                        default:
                            value.append("\\")
                            value.append(ch)  // unknown escapes stay as written
                        }
                        escaped = false
                    } else if quote == "\"" && ch == "\\" {
                        escaped = true
                    } else if ch == quote {
                        closed = true
                        end = rest.index(after: index)
                        break
                    } else {
                        value.append(ch)
                    }
                }
                if !closed { return .failure(ConfigError("line \(lineNumber): unterminated quoted value")) }
                let after = rest[end...].trimmingSpaces()
                if !after.isEmpty && !after.hasPrefix("#") {
                    return .failure(ConfigError("line \(lineNumber): unexpected text after the quoted value"))
                }
            } else {
                // An unquoted value ends where a comment starts (" #").
                if let hash = rest.indices.first(where: {
                    rest[$0] == "#" && $0 > rest.startIndex && rest[rest.index(before: $0)] == " "
                }) {
                    rest = rest[..<hash]
                }
                value = String(rest.trimmingSpaces())
            }
            entries.append((key, value, lineNumber))
        }
        return .success(entries)
    }

    public static func helpText(program: String) -> String {
        var out = """
            Usage: \(program) [--KEY value | --KEY=value]... [--env-file PATH]

            A WebSocket chat server; Redis Pub/Sub keeps any number of instances in sync.
            Settings come from defaults, then the .env file, then the environment, then
            flags (later wins). Every environment key has a flag: REDIS_HOST is --redis-host.

            Options:
              --env-file PATH   read settings from PATH instead of ./.env (must exist)
              --help            show this help
              --version         show the version
              --env-example     print an .env.example with every key and its default
              --healthcheck     exit 0 if the server these settings describe answers
                                GET /healthz with 200, else 1 (for container healthchecks)

            Settings (environment key, flag, default):

            """
        for key in ConfigKeys.all {
            out += "  \(key.name)  \(key.flag)  [default: \(key.defaultValue.isEmpty ? "empty" : key.defaultValue)]\n"
            out += "      \(key.help)\n"
        }
        out += "\nExit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.\n"
        return out
    }

    /// The text of `.env.example`: every key, its default, one line on what it does.
    public static func envExample() -> String {
        var out = "# chat-server settings. Copy to .env and edit; the environment and flags override it.\n"
        out += "# Generated from the key table (ConfigKeys); `chat-server --help` shows the same.\n"
        for key in ConfigKeys.all {
            out += "\n# \(key.help)\n\(key.name)=\(key.defaultValue)\n"
        }
        return out
    }
}
