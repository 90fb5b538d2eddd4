/// The values a `JoinMachine` takes in and gives out besides its events and actions:
/// what the coordinator tells it, what it asks the coordinator to run, and why a join
/// is refused (with the code and text the client gets).
extension JoinMachine {
    /// A message sent while joining: published after the join, or answered
    /// `not_joined` if the join does not happen.
    public struct HeldSend: Equatable, Sendable {
        public var text: String
        public var ref: Ref?
        public init(text: String, ref: Ref?) {
            self.text = text
            self.ref = ref
        }
    }

    /// What the join script answered (decoded by the I/O layer); `failed`: no answer,
    /// or an error part-way (the script may or may not have written).
    public enum Reply: Equatable, Sendable {
        case joined(protected: Bool)
        case nicknameTaken
        case passwordLimited(waitMillis: Int)
        /// The channel is protected by this hash: check the client's password against it
        /// (empty: the password was removed since, join again without).
        case verify(hash: String)
        /// The channel lost its password or is new and the client gave one: hash it.
        case claim
        /// The channel does not exist: creating it counts against the address.
        case new
        case failed
    }

    /// Whether the join can run its script now (`proceed`): Redis is gone, the channel
    /// is not ready (not subscribed, others before it, Redis busy), or now.
    public enum Readiness: Equatable, Sendable {
        case unavailable
        case later
        case now(Turn)
    }

    /// What the coordinator knows when a join's turn comes.
    public struct Turn: Equatable, Sendable {
        /// The client's connection is still open.
        public var connectionOpen: Bool
        /// Leaves wait for Redis: no join goes out meanwhile (LeaveQueue's bound).
        public var leavesWaiting: Bool
        /// The join already holds a history-read slot.
        public var holdsHistorySlot: Bool
        public init(connectionOpen: Bool = true, leavesWaiting: Bool = false, holdsHistorySlot: Bool = false) {
            self.connectionOpen = connectionOpen
            self.leavesWaiting = leavesWaiting
            self.holdsHistorySlot = holdsHistorySlot
        }
    }

    /// The join script's arguments that belong to this join.
    public struct Script: Equatable, Sendable {
        /// Replay history: the join asked for it (`since`, `history`) and was not left
        /// before it ran (nobody would see it).
        public var replay: Bool
        /// The stored hash the client's password was verified against ('' none).
        public var verifiedHash: String
        /// '' no password given, '?' given but not hashed yet, else its hash.
        public var newPassword: String
        /// The address's allowance let this join create the channel.
        public var mayCreate: Bool
        public init(replay: Bool, verifiedHash: String = "", newPassword: String = "", mayCreate: Bool = false) {
            self.replay = replay
            self.verifiedHash = verifiedHash
            self.newPassword = newPassword
            self.mayCreate = mayCreate
        }
    }

    public enum PasswordJob: Equatable, Sendable {
        case verify(password: String, hash: String)
        case hash(password: String)
    }

    public enum PasswordResult: Equatable, Sendable {
        case verified(Bool)
        /// nil: hashing failed.
        case hashed(String?)
    }

    /// Why a join did not happen; the client gets `code` and `message`.
    public enum Refusal: Equatable, Sendable {
        case unavailable
        case catchingUp
        case nicknameTaken
        case passwordLimited(waitMillis: Int)
        case passwordKeepsChanging
        case needsPassword
        case tooManyPasswordAttempts
        case tooManyNewChannels
        case cannotSetPassword
        case tooManyPasswordChecks
        case wrongPassword
        case hashFailed
        case checksBusy
    }

    /// Why a message sent on a joining (or left) membership was not taken.
    public enum SendRefusal: Equatable, Sendable {
        /// Over `heldSendLimit` messages sent while joining.
        case overLimit
        /// The membership is over (left, refused).
        case notJoined
    }
}

extension JoinMachine.Refusal {
    /// The error code the client gets.
    public var code: ErrorCode {
        switch self {
        case .unavailable, .catchingUp, .passwordKeepsChanging, .cannotSetPassword, .hashFailed, .checksBusy:
            return .unavailable
        case .nicknameTaken: return .nicknameTaken
        case .passwordLimited, .tooManyPasswordAttempts, .tooManyNewChannels, .tooManyPasswordChecks:
            return .rateLimited
        case .needsPassword, .wrongPassword: return .wrongPassword
        }
    }

    /// The error message the client gets.
    public func message(channel: String, nickname: String) -> String {
        switch self {
        case .unavailable: return "could not join \(channel): chat storage is unavailable"
        case .catchingUp:
            return "could not join \(channel): the server is catching up with chat storage, try again shortly"
        case .nicknameTaken: return "nickname \"\(nickname)\" is already in channel \(channel)"
        case .passwordLimited(let wait):
            let seconds = (wait + 999) / 1_000
            return "too many wrong passwords for channel \(channel) from your address: try again in \(seconds) s"
        case .passwordKeepsChanging: return "the channel's password keeps changing, try again"
        case .needsPassword: return "channel \(channel) needs a password"
        case .tooManyPasswordAttempts: return "too many password attempts, wait a minute"
        case .tooManyNewChannels:
            return "too many new channels from your address, try again in a minute (or join an existing one)"
        case .cannotSetPassword: return "could not set the channel's password"
        case .tooManyPasswordChecks: return "too many password checks at once, try again in a moment"
        case .wrongPassword: return "wrong password for channel \(channel)"
        case .hashFailed: return "could not hash the password"
        case .checksBusy: return "the server is busy checking passwords, try again shortly"
        }
    }
}
