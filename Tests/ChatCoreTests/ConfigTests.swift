import Testing

@testable import ChatCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Config and ConfigLoader")
struct ConfigTests {
    /// Runs the loader with an in-memory file system.
    func load(
        _ arguments: [String] = [], env: [String: String] = [:], files: [String: String] = [:]
    ) -> Result<LaunchRequest, ConfigError> {
        ConfigLoader.load(arguments: arguments, environment: env, readFile: { files[$0] })
    }

    func config(_ arguments: [String] = [], env: [String: String] = [:], files: [String: String] = [:]) throws -> Config
    {
        let result = load(arguments, env: env, files: files)
        guard case .success(.run(let config, _)) = result else {
            Issue.record("expected a configuration, got \(result)")
            throw ConfigError("no config")
        }
        return config
    }

    func warnings(_ arguments: [String] = [], env: [String: String] = [:], files: [String: String] = [:]) -> [String] {
        if case .success(.run(_, let warnings)) = load(arguments, env: env, files: files) { return warnings }
        return ["<no config>"]
    }

    func errorMessage(_ arguments: [String] = [], env: [String: String] = [:], files: [String: String] = [:]) -> String?
    {
        if case .failure(let error) = load(arguments, env: env, files: files) { return error.message }
        return nil
    }

    // MARK: Defaults and precedence

    @Test("defaults when nothing is given")
    func defaults() {
        #expect(load() == .success(.run(Config(), warnings: [])))
        let c = Config()
        #expect(c.host == "0.0.0.0")
        #expect(c.port == 8080)
        #expect(c.redisHost == "127.0.0.1")
        #expect(c.redisPort == 6379)
        #expect(c.redisPassword == "")
        #expect(c.redisDB == 0)
        #expect(c.redisPrefix == "chat")
        #expect(c.appDebug == false)
        #expect(c.logToFile == false)
        #expect(c.echoEnabled == false)
        #expect(c.allowBroadcast == false)
        #expect(c.maxMessageSize == 65_536)
        #expect(c.maxMessageLength == 2_000)
        #expect(c.maxMessageBytes == 8_192 && c.rateLimitBytes == 8_192 && c.historyReads == 16 && c.apiRateLimit == 10)
        #expect(c.instanceID == "")
    }

    @Test("unrelated environment variables are ignored")
    func unrelatedEnvironment() {
        #expect(
            load(env: ["PATH": "/bin", "HOME": "/root", "port": "1", "Port": "2"])
                == .success(.run(Config(), warnings: [])))
    }

    @Test("precedence: defaults < .env < environment < flags")
    func precedence() throws {
        let files = [".env": "PORT=1111\nREDIS_HOST=from-file\nAPP_DEBUG=true\nREDIS_PREFIX=file\n"]
        let env = ["PORT": "2222", "REDIS_HOST": "from-env", "APP_DEBUG": "false"]
        let flags = ["--port", "3333", "--app-debug"]
        let all = try config(flags, env: env, files: files)
        #expect(all.port == 3333)  // flag wins over env and .env
        #expect(all.appDebug == true)  // bool flag over env over .env
        #expect(all.redisHost == "from-env")  // env over .env
        #expect(all.redisPrefix == "file")  // .env over default
        #expect(all.redisPort == 6379)  // default
        let noFlags = try config(env: env, files: files)
        #expect(noFlags.port == 2222)
        #expect(noFlags.appDebug == false)
        let fileOnly = try config(files: files)
        #expect(fileOnly.port == 1111)
        #expect(fileOnly.redisHost == "from-file")
        #expect(fileOnly.appDebug == true)
        let envOnly = try config(env: env)
        #expect(envOnly.port == 2222)
        #expect(envOnly.redisPrefix == "chat")
    }

    @Test("the last of repeated flags wins")
    func repeatedFlags() throws {
        #expect(try config(["--port", "1", "--port=2"]).port == 2)
    }

    @Test("--key=value and --key value forms")
    func flagForms() throws {
        let a = try config([
            "--port=9000", "--redis-host", "redis.local", "--redis-password=", "--instance-id", "node 1",
            "--log-file-path=a=b.log",
        ])
        #expect(a.port == 9000)
        #expect(a.redisHost == "redis.local")
        #expect(a.redisPassword == "")
        #expect(a.instanceID == "node 1")
        #expect(a.logFilePath == "a=b.log")
        // A value may start with "-" (but not be taken from a following flag for booleans).
        #expect(try config(["--redis-password", "-secret"]).redisPassword == "-secret")
    }

    @Test("bool flags: no value means true; explicit values in both forms")
    func boolFlags() throws {
        #expect(try config(["--app-debug"]).appDebug == true)
        let followed = try config(["--app-debug", "--port", "1234"])
        #expect(followed.appDebug == true)
        #expect(followed.port == 1234)
        #expect(try config(["--app-debug=false"]).appDebug == false)
        #expect(try config(["--echo-enabled", "true"]).echoEnabled == true)
        #expect(try config(["--echo-enabled=0"]).echoEnabled == false)
        #expect(try config(["--allow-broadcast=on"]).allowBroadcast == true)
        for (text, value) in [
            ("1", true), ("true", true), ("TRUE", true), ("yes", true), ("On", true), ("0", false), ("false", false),
            ("No", false), ("off", false),
        ] {
            #expect(try config(env: ["LOG_TO_FILE": text]).logToFile == value, "\(text)")
        }
    }

    @Test(
        "invalid values produce an error naming the key",
        arguments: [
            ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000"), ("PORT", "-1"), ("PORT", ""), ("PORT", "80.5"),
            ("PORT", " 80"),
            ("APP_DEBUG", "maybe"), ("APP_DEBUG", ""), ("REDIS_DB", "-1"), ("REDIS_PORT", "65536"),
            ("MAX_MESSAGE_SIZE", "124"), ("MAX_HEADER_BYTES", "1023"), ("HOST", ""), ("REDIS_HOST", "a\u{1}b"),
            ("MAX_MESSAGE_LENGTH", "0"),
        ])
    func invalidValues(key: String, value: String) {
        let flag = "--" + key.lowercased().replacing("_", with: "-")
        let sources: [(String, String?)] = [
            ("environment", errorMessage(env: [key: value])),
            (".env", errorMessage(files: [".env": "# settings\n\(key)='\(value)'\n"])),
            ("flag", errorMessage(["\(flag)=\(value)"])),
        ]
        for (source, message) in sources {
            #expect(message?.contains(key) == true, "\(source): \(message ?? "no error")")
        }
        // The .env error also names the line.
        #expect(errorMessage(files: [".env": "# settings\n\(key)='\(value)'\n"])?.contains("line 2") == true)
    }

    @Test("range edges are accepted")
    func rangeEdges() throws {
        #expect(try config(env: ["PORT": "1"]).port == 1)
        #expect(try config(env: ["PORT": "65535"]).port == 65535)
        #expect(try config(env: ["REDIS_DB": "0"]).redisDB == 0)
        #expect(try config(env: ["MAX_MESSAGE_SIZE": "125"]).maxMessageSize == 125)
    }

    @Test(
        "command-line errors",
        arguments: [
            (["--bogus"], "bogus"),
            (["--bogus=1"], "bogus"),
            (["--PORT=1"], "PORT"),
            (["--redis_host=x"], "redis_host"),
            (["positional"], "positional"),
            (["-p", "1"], "-p"),
            (["--port"], "PORT"),
            (["--redis-host"], "REDIS_HOST"),
            (["--env-file"], "env-file"),
        ])
    func commandLineErrors(arguments: [String], mentions: String) {
        let message = errorMessage(arguments)
        #expect(message?.contains(mentions) == true, "\(arguments): \(message ?? "no error")")
    }

    @Test("--help, -h and --version")
    func helpAndVersion() {
        #expect(load(["--help"]) == .success(.help))
        #expect(load(["-h"]) == .success(.help))
        #expect(load(["--version"]) == .success(.version))
        #expect(load(["--port=1", "--help"]) == .success(.help))
        // No file is needed for them.
        #expect(load(["--env-file", "missing.env", "--help"]) == .success(.help))
        #expect(load(["--env-example"]) == .success(.envExample))
        #expect(load(["--env-file", "missing.env", "--env-example"]) == .success(.envExample))
        #expect(ConfigLoader.helpText(program: "x").contains("--env-example"))
        // --healthcheck: the settings as the server would have them, for the probe.
        var expected = Config()
        expected.port = 1234
        #expect(load(["--healthcheck", "--port", "1234"]) == .success(.healthcheck(expected)))
        #expect(ConfigLoader.helpText(program: "x").contains("--healthcheck"))
    }

    @Test("timeouts: seconds with decimals, stored as milliseconds, 0.1 to 3600")
    func timeouts() throws {
        #expect(Config().handshakeTimeoutMillis == 10_000)
        #expect(Config().shutdownTimeoutMillis == 5_000)
        #expect(try config(env: ["HANDSHAKE_TIMEOUT": "0.5"]).handshakeTimeoutMillis == 500)
        #expect(try config(["--handshake-timeout", "2"]).handshakeTimeoutMillis == 2_000)
        #expect(try config(files: [".env": "SHUTDOWN_TIMEOUT=0.1"]).shutdownTimeoutMillis == 100)
        #expect(try config(env: ["SHUTDOWN_TIMEOUT": "3600"]).shutdownTimeoutMillis == 3_600_000)
        #expect(try config(env: ["HANDSHAKE_TIMEOUT": "1.2345"]).handshakeTimeoutMillis == 1_235)
        for bad in ["0", "0.09", "3600.5", "-1", "abc", "", "nan", "inf", "1s"] {
            #expect(
                errorMessage(env: ["HANDSHAKE_TIMEOUT": bad])?.contains("HANDSHAKE_TIMEOUT") == true,
                "\(bad.debugDescription)")
        }
    }

    @Test("help text lists every key with its flag and default")
    func helpText() {
        let help = ConfigLoader.helpText(program: "chat-server")
        #expect(help.hasPrefix("Usage: chat-server"))
        for key in ConfigKeys.all {
            let line = help.split(separator: "\n").first { $0.drop(while: { $0 == " " }).hasPrefix(key.name + " ") }
            #expect(line?.contains(key.flag) == true, "\(key.name)")
            #expect(line?.contains(key.defaultValue.isEmpty ? "empty" : key.defaultValue) == true, "\(key.name)")
            #expect(help.contains(key.help))
        }
        #expect(help.contains("--env-file"))
    }

    // MARK: The .env file

    @Test("--env-file: read when present, an error when missing")
    func envFileFlag() throws {
        #expect(try config(["--env-file", "conf/prod.env"], files: ["conf/prod.env": "PORT=7000"]).port == 7000)
        #expect(
            try config(["--env-file=conf/prod.env"], files: ["conf/prod.env": "PORT=7000", ".env": "PORT=1"]).port
                == 7000)
        let message = errorMessage(["--env-file", "nope.env"])
        #expect(message?.contains("nope.env") == true)
        // The default .env may be missing.
        #expect(load(files: [:]) == .success(.run(Config(), warnings: [])))
        // The default file is .env.
        #expect(ConfigLoader.defaultEnvFile == ".env")
        #expect(try config(files: [".env": "PORT=7001"]).port == 7001)
    }

    @Test(".env syntax: comments, export, quotes, inline comments, blank lines")
    func dotEnvSyntax() throws {
        let text = """
            # a comment
               # an indented comment

            export REDIS_HOST=exported.host
            export   REDIS_PORT = 7777
            HOST = 127.0.0.2   
            REDIS_PASSWORD="p@ss \\"quoted\\" back\\\\slash #not-a-comment"
            REDIS_PREFIX='lit\\n$HOME #x'
            LOG_FILE_PATH=logs/a.log # trailing comment
            LOG_ERROR_FILE_PATH=logs/b#c.log
            INSTANCE_ID=
            MAX_MESSAGE_LENGTH="42" # comment after a quoted value
            """
        let c = try config(files: [".env": text])
        #expect(c.redisHost == "exported.host")
        #expect(c.redisPort == 7777)
        #expect(c.host == "127.0.0.2")
        #expect(c.redisPassword == "p@ss \"quoted\" back\\slash #not-a-comment")
        #expect(c.redisPrefix == "lit\\n$HOME #x")
        #expect(c.logFilePath == "logs/a.log")
        #expect(c.logErrorFilePath == "logs/b#c.log")
        #expect(c.instanceID == "")
        #expect(c.maxMessageLength == 42)
    }

    @Test("parseDotEnv: entries with line numbers; escapes in double quotes")
    func parseDotEnv() throws {
        let entries = try ConfigLoader.parseDotEnv("A=1\n\n# c\nB=\"x\\ty\\nz\"\nC='a\\tb'\nD=\"\"\nE=''\n").get()
        #expect(entries.map(\.key) == ["A", "B", "C", "D", "E"])
        #expect(entries.map(\.value) == ["1", "x\ty\nz", "a\\tb", "", ""])
        #expect(entries.map(\.line) == [1, 4, 5, 6, 7])
        #expect(try ConfigLoader.parseDotEnv("").get().isEmpty)
        #expect(try ConfigLoader.parseDotEnv("\n\n# only comments\n").get().isEmpty)
        #expect(try ConfigLoader.parseDotEnv("K=v").get().map(\.value) == ["v"])
        // Values keep inner "=" and spaces.
        #expect(try ConfigLoader.parseDotEnv("K=a=b c").get().map(\.value) == ["a=b c"])
    }

    @Test(
        ".env with CRLF line ends")
    func dotEnvCRLF() throws {
        let entries = try ConfigLoader.parseDotEnv("HOST=crlf.host\r\nPORT=9000\r\n# c\r\nREDIS_PREFIX=\"q\"\r\n").get()
        #expect(entries.map(\.key) == ["HOST", "PORT", "REDIS_PREFIX"])
        #expect(entries.map(\.value) == ["crlf.host", "9000", "q"])
        #expect(entries.map(\.line) == [1, 2, 4])
        let c = try config(files: [".env": "HOST=crlf.host\r\nPORT=9000\r\n"])
        #expect(c.host == "crlf.host")
        #expect(c.port == 9000)
    }

    @Test("a lone CR at the end of a line is dropped")
    func trailingCR() throws {
        // Not CRLF (which is one Swift Character): "\r" followed by the end of the text.
        #expect(try ConfigLoader.parseDotEnv("PORT=9000\r").get().map(\.value) == ["9000"])
    }

    @Test(
        "malformed .env lines are errors with the line number",
        arguments: [
            ("PORT=1\nJUSTTEXT\n", 2),
            ("\n\n\nexport\n", 4),
            ("A=1\nB=\"unterminated\n", 2),
            ("A='unterminated\n", 1),
            ("1-BAD=x\n", 1),
            ("=value\n", 1),
            ("MY KEY=1\n", 1),
            ("KÉY=1\n", 1),
        ])
    func malformedDotEnv(text: String, line: Int) {
        guard case .failure(let error) = ConfigLoader.parseDotEnv(text) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
        #expect(error.message.contains("line \(line)"), "\(error.message)")
        // Through the loader, the message names the file as well.
        let message = errorMessage(["--env-file", "my.env"], files: ["my.env": text])
        #expect(message?.contains("my.env") == true)
        #expect(message?.contains("line \(line)") == true)
    }

    @Test("unknown keys in .env are warnings, not errors")
    func unknownKeyWarning() throws {
        let w = warnings(files: [".env": "PORT=1\nNOT_A_SETTING=x\n"])
        #expect(w.count == 1)
        #expect(w.first?.contains("NOT_A_SETTING") == true)
        #expect(w.first?.contains("2") == true)
        #expect(try config(files: [".env": "PORT=1\nNOT_A_SETTING=x\n"]).port == 1)
        // Keys are case-sensitive.
        #expect(warnings(files: [".env": "port=1\n"]).count == 1)
    }

    // MARK: The key table

    @Test("keys and flags are unique and derived from each other")
    func keyTable() {
        let names = ConfigKeys.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(Set(ConfigKeys.all.map(\.flag)).count == names.count)
        for key in ConfigKeys.all {
            #expect(key.name.allSatisfy { $0 == "_" || $0.isUppercase || $0.isNumber })
            #expect(key.flag == "--" + key.name.lowercased().replacing("_", with: "-"))
            #expect(ConfigKeys.key(named: key.name)?.name == key.name)
            #expect(!key.help.isEmpty)
        }
        #expect(ConfigKeys.key(named: "REDIS_HOST")?.flag == "--redis-host")
        #expect(ConfigKeys.key(named: "nope") == nil)
        let bools = Set(ConfigKeys.all.filter(\.isBool).map(\.name))
        #expect(bools.isSuperset(of: ["ALLOW_BROADCAST", "APP_DEBUG", "ECHO_ENABLED", "LOG_TO_FILE"]))
        #expect(!bools.contains("PORT") && !bools.contains("HOST"))
        for key in ConfigKeys.all where key.isBool {
            #expect(["true", "false"].contains(key.defaultValue), "\(key.name)")
        }
    }

    /// A valid value for `key` that differs from its default.
    func otherValue(_ key: ConfigKey) -> String {
        if key.name == "ALLOWED_ORIGINS" { return "https://other.example" }
        if key.name == "TRUSTED_PROXIES" { return "10.0.0.0/8" }
        if key.isBool { return key.defaultValue == "true" ? "false" : "true" }
        if let n = Int(key.defaultValue) { return String(n + 1) }
        return key.defaultValue + "-other"
    }

    @Test("every key's default applied to Config() gives Config(), and each key sets its own field")
    func defaultsAgree() {
        for key in ConfigKeys.all {
            var config = Config()
            #expect(key.apply(&config, key.defaultValue) == nil, "\(key.name) refuses its own default")
            #expect(
                config == Config(), "\(key.name): default \(key.defaultValue.debugDescription) differs from Config()")
            // The key does set something, and its default puts that field back.
            var changed = Config()
            #expect(key.apply(&changed, otherValue(key)) == nil, "\(key.name)")
            #expect(changed != Config(), "\(key.name) changes nothing")
            #expect(key.apply(&changed, key.defaultValue) == nil)
            #expect(changed == Config(), "\(key.name): default does not restore the field it sets")
        }
        // And all keys together: setting every one to another value, then every one back.
        var all = Config()
        for key in ConfigKeys.all { _ = key.apply(&all, otherValue(key)) }
        for key in ConfigKeys.all { _ = key.apply(&all, key.defaultValue) }
        #expect(all == Config())
    }

    @Test("every key can be set from each source")
    func everyKeyEverySource() throws {
        for key in ConfigKeys.all {
            let value = otherValue(key)
            var expected = Config()
            _ = key.apply(&expected, value)
            #expect(try config(env: [key.name: value]) == expected, "\(key.name) env")
            #expect(try config(files: [".env": "\(key.name)=\(value)"]) == expected, "\(key.name) .env")
            #expect(try config(["\(key.flag)=\(value)"]) == expected, "\(key.name) flag=")
            #expect(try config([key.flag, value]) == expected, "\(key.name) flag value")
        }
    }

    // MARK: .env.example

    @Test("envExample lists every key with its default and parses back to the defaults")
    func envExampleContent() throws {
        let example = ConfigLoader.envExample()
        let entries = try ConfigLoader.parseDotEnv(example).get()
        #expect(entries.map(\.key) == ConfigKeys.all.map(\.name))
        #expect(entries.map(\.value) == ConfigKeys.all.map(\.defaultValue))
        #expect(load(files: [".env": example]) == .success(.run(Config(), warnings: [])))
        for key in ConfigKeys.all { #expect(example.contains("# \(key.help)\n\(key.name)=")) }
    }

    static let repoRoot: String = {
        // #filePath is <root>/Tests/ChatCoreTests/ConfigTests.swift.
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            data.append(contentsOf: chunk[..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    static var envExampleFile: String? { readFile(repoRoot + "/.env.example") }

    // Skipped (reported as such) while the repository has no .env.example yet; the
    // file is to be generated from ConfigLoader.envExample(), and from then on this
    // test keeps the two in step.
    @Test(
        ".env.example at the repository root equals ConfigLoader.envExample()",
        .enabled(if: ConfigTests.envExampleFile != nil, ".env.example does not exist at the repository root yet"))
    func envExampleFileInStep() throws {
        let file = try #require(Self.envExampleFile)
        #expect(file == ConfigLoader.envExample())
    }

    @Test("the repository root is found from #filePath")
    func repoRootLocated() {
        #expect(Self.readFile(Self.repoRoot + "/Package.swift")?.contains("ChatCore") == true)
    }
}
