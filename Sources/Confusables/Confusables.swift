internal import CICU

/// Unicode's confusable skeletons (UTS #39, from ICU's copy of confusables.txt): two
/// strings with the same skeleton look alike (`аdmin` with a Cyrillic а and `admin`;
/// `aIice` with a capital i and `alice`; `rn` and `m`).
///
/// A target of its own so that ChatCore stays free of C modules (it is fuzzed by
/// compiling its sources with swiftc alone, docs/ARCHITECTURE.md): ChatCore's
/// `NicknameFolding` takes this function as an argument, and the server passes it.
public enum Confusables {
    /// The skeleton of `text` (in NFD, as UTS #39 defines it). Case-sensitive: `I`
    /// becomes `l` but `i` stays `i`; `NicknameFolding` combines it with case folding.
    /// About 250 ns for a nickname (release build); uses one checker per process,
    /// opened on the first call. Safe from any thread.
    @Sendable public static func skeleton(_ text: String) -> String {
        checker.skeleton(text)
    }

    private static let checker = SpoofChecker()
}

/// ICU's USpoofChecker. Never closed: one lives as long as the process. Sendable
/// because it is only read after it is opened (uspoof_getSkeleton takes a const
/// checker, documented thread-safe once configured).
private final class SpoofChecker: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    init() {
        var status: Int32 = 0
        guard let handle = chat_spoof_open(&status) else {
            // Only possible without ICU's data library, which the binary links.
            fatalError("ICU spoof checker unavailable: \(String(cString: chat_icu_error_name(status)))")
        }
        self.handle = handle
    }

    func skeleton(_ text: String) -> String {
        if text.isEmpty { return text }
        var text = text
        return text.withUTF8 { input in
            precondition(input.count < Int(Int32.max) / 4, "text too long for a skeleton")
            var capacity = max(128, input.count * 4)  // a nickname's skeleton fits the first time
            while true {
                var status: Int32 = 0
                let skeleton: String? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { out in
                    let n = input.withMemoryRebound(to: CChar.self) {
                        chat_spoof_skeleton(
                            handle, $0.baseAddress, Int32($0.count), out.baseAddress, Int32(capacity), &status)
                    }
                    // ICU refuses only what cannot come from a Swift string (invalid UTF-8);
                    // the text unfolded is the safe answer then.
                    if n < 0 { return String(decoding: input, as: UTF8.self) }
                    if Int(n) > capacity {
                        capacity = Int(n)
                        return nil
                    }
                    return String(
                        decoding: UnsafeRawBufferPointer(start: out.baseAddress, count: Int(n)), as: UTF8.self)
                }
                if let skeleton { return skeleton }
            }
        }
    }
}
