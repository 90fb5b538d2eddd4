import ChatCore
import EventIO
import Glibc

enum ServerVersion {
    static let current = "0.1.0"
}

// chat-server entry point: configuration, logging, one worker.
signal(SIGPIPE, SIG_IGN)
// Until the loop installs its handler, a SIGHUP (log reopening) must not kill a
// worker that is still starting.
signal(SIGHUP, SIG_IGN)

let arguments = Array(CommandLine.arguments.dropFirst())
let environment = Platform.environment(keys: ConfigKeys.all.map(\.name))
// What reading .env gave, handed down to workers: a worker restarted later runs with
// the supervisor's settings, not with what the file says by then.
var envFileText: String? = nil
let readFile: (String) -> String? =
    Supervisor.inheritedEnvFile ?? { path in
        envFileText = Platform.readTextFile(path)
        return envFileText
    }
switch ConfigLoader.load(arguments: arguments, environment: environment, readFile: readFile) {
case .failure(let error):
    FileOutput.standardError("chat-server: config error: \(error.message)\n")
    exit(2)
case .success(.help):
    FileOutput.standardOutput(ConfigLoader.helpText(program: "chat-server"))
    exit(0)
case .success(.envExample):
    FileOutput.standardOutput(ConfigLoader.envExample())
    exit(0)
case .success(.version):
    FileOutput.standardOutput("chat-server \(ServerVersion.current)\n")
    exit(0)
case .success(.healthcheck(let config)):
    // The listening address as a place to connect to: "all interfaces" means loopback.
    let host = config.host == "0.0.0.0" || config.host.isEmpty ? "127.0.0.1" : config.host == "::" ? "::1" : config.host
    let status = Platform.httpStatus(host: host, port: config.port, path: "/healthz", timeoutSeconds: 2)
    FileOutput.standardOutput(
        "chat-server: /healthz at \(host):\(config.port): \(status.map(String.init) ?? "no answer")\n")
    exit(status == 200 ? 0 : 1)
case .success(.run(let config, let warnings)):
    let logger = Logger(debug: config.appDebug)
    if config.logToFile, let problem = logger.openFiles(logPath: config.logFilePath, errorPath: config.logErrorFilePath)
    {
        FileOutput.standardError("chat-server: config error: LOG_FILE_PATH/LOG_ERROR_FILE_PATH: \(problem)\n")
        exit(2)
    }
    let workerIndex = Supervisor.workerIndex
    let workerCount = config.workers == 0 ? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) : config.workers
    if workerIndex == nil { for warning in warnings { logger.warn(warning) } }
    if workerCount > 1, workerIndex == nil {
        // The supervisor checks the port once, so that "address in use" is one clear
        // error rather than workers restarting forever.
        do {
            _ = try Listener(loop: EventLoop(), host: config.host, port: config.port, logger: logger)
        } catch {
            logger.error("cannot start", [("error", "\(error)")])
            exit(1)
        }
        logger.tag = "supervisor"
        let supervisor = Supervisor(config: config, logger: logger, count: workerCount, envFileText: envFileText)
        supervisor.run()
        exit(supervisor.exitCode)
    }
    var workerConfig = config
    if let workerIndex {
        Supervisor.followSupervisor()
        // Each worker is its own instance to Redis.
        workerConfig.instanceID = config.instanceID.isEmpty ? "" : "\(config.instanceID)-\(workerIndex)"
    }
    let worker = WorkerAssembly.build(config: workerConfig, logger: logger)
    worker.workerIndex = workerIndex
    logger.tag = worker.instanceID
    do {
        try worker.start()
    } catch {
        logger.error("cannot start", [("error", "\(error)")])
        exit(1)
    }
    worker.run()
    exit(0)
}
