import EventIO
import Glibc

// chat-bench: WebSocket fan-out benchmark (see BenchOptions.help).
signal(SIGPIPE, SIG_IGN)
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") || arguments.isEmpty {
    FileOutput.standardOutput(BenchOptions.help + "\n")
    exit(arguments.isEmpty ? 2 : 0)
}
switch BenchOptions.parse(arguments) {
case .failure(let message):
    FileOutput.standardError("chat-bench: \(message.description)\n")
    exit(2)
case .success(let options):
    if options.shard != nil {
        ShardRunner(options: options).run()
        exit(0)
    }
    let coordinator = Coordinator(options: options)
    coordinator.run()
    exit(coordinator.exitCode)
}
