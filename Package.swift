// swift-tools-version:6.0
import PackageDescription

// No packages beyond the toolchain: the server needs libevent, hiredis, libcrypt,
// ICU and the standard library, nothing else (see README, "Dependencies").
let unchecked: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
// The C targets' debug information in DWARF 4: with two C targets in clang's DWARF 5,
// Debian 12's valgrind (3.19) gives up reading the server's binary, and
// bench/callgrind.sh (make bench) cannot count instructions.
let dwarf4: [CSetting] = [.unsafeFlags(["-gdwarf-4"])]

let package = Package(
    name: "chat-server",
    products: [
        .executable(name: "chat-server", targets: ["ChatServer"]),
        .executable(name: "chat-bench", targets: ["ChatBench"]),
    ],
    targets: [
        .systemLibrary(name: "CLibevent", path: "Sources/CLibevent"),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis"),
        // ICU's spoof checker behind stable wrapper names (ICU's are versioned macros) and plain C types.
        .target(
            name: "CICU", path: "Sources/CICU", cSettings: dwarf4,
            linkerSettings: [.linkedLibrary("icui18n"), .linkedLibrary("icuuc")]),
        // io_uring by raw system calls (the kernel's header only): batched fan-out sends.
        .target(name: "CIORing", path: "Sources/CIORing", cSettings: dwarf4),
        // Protocol logic: bytes in, values out. Imports no C module and does no I/O.
        .target(name: "ChatCore", path: "Sources/ChatCore", swiftSettings: unchecked),
        // Unicode's confusable skeletons (UTS #39) from ICU: the function the server
        // hands to ChatCore's NicknameFolding, which cannot import C (docs/ARCHITECTURE.md).
        .target(name: "Confusables", dependencies: ["CICU"], path: "Sources/Confusables", swiftSettings: unchecked),
        // The event loop and the few libc wrappers both executables use.
        .target(
            name: "EventIO", dependencies: ["CLibevent", "CIORing"], path: "Sources/EventIO", swiftSettings: unchecked),
        // The I/O layer: event loop, sockets, Redis, routing.
        .executableTarget(
            name: "ChatServer",
            dependencies: ["ChatCore", "Confusables", "EventIO", "CLibevent", "CHiredis", "CCrypt"],
            path: "Sources/ChatServer",
            swiftSettings: unchecked,
            plugins: ["EmbedLua"]
        ),
        // Build time only: the server's Lua scripts (Redis/Scripts/*.lua) as Swift string constants.
        .executableTarget(name: "EmbedLuaTool", path: "Sources/EmbedLuaTool"),
        .plugin(name: "EmbedLua", capability: .buildTool(), dependencies: ["EmbedLuaTool"], path: "Plugins/EmbedLua"),
        // The benchmark tool: WebSocket subscribers and a publisher on libevent.
        .executableTarget(
            name: "ChatBench",
            dependencies: ["ChatCore", "EventIO", "CLibevent"],
            path: "Sources/ChatBench",
            swiftSettings: unchecked
        ),
        // libFuzzer on ChatCore's parsers: scripts/fuzz.sh builds it with libFuzzer and ASan into
        // .build-fuzz; a plain build makes a replayer of saved inputs (Sources/ChatFuzz).
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .executableTarget(name: "ChatFuzz", dependencies: ["ChatCore", "CLibFuzzer"], path: "Sources/ChatFuzz"),
        .testTarget(name: "ChatCoreTests", dependencies: ["ChatCore"], path: "Tests/ChatCoreTests"),
        .testTarget(
            name: "ConfusablesTests", dependencies: ["Confusables", "ChatCore"], path: "Tests/ConfusablesTests"),
        .testTarget(name: "EventIOTests", dependencies: ["EventIO"], path: "Tests/EventIOTests"),
        // The server's own logic (@testable: the executable's internal types).
        .testTarget(name: "ChatServerTests", dependencies: ["ChatServer"], path: "Tests/ChatServerTests"),
    ]
)
