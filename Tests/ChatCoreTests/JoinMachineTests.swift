import Testing

@testable import ChatCore

// Every sequence of one membership's join, including the races the integration tests
// found (Tests/integration: test_redis.py's join/leave/join bursts, test_hostile.py's
// joins waiting for history, test_channels.py's passwords, test_chat.py's held sends).

private typealias M = JoinMachine
private let now = M.Readiness.now(M.Turn())
private func held(_ text: String, _ ref: Int64) -> M.HeldSend { M.HeldSend(text: text, ref: .integer(ref)) }
private func refusal(_ r: M.Refusal) -> [M.Action] { [.refuse(r), .closeSeedConnection(r)] }

@Suite("JoinMachine")
struct JoinMachineTests {
    // MARK: The path of a join

    @Test("a join on a subscribed channel runs its script at once and enters from the seam")
    func joinNow() {
        var m = M(options: JoinOptions())
        #expect(m.state == .waitingForSubscription)
        #expect(m.handle(.proceed(now)) == [.runScript(M.Script(replay: false))])
        #expect(m.state == .joining)
        #expect(m.handle(.replied(.joined(protected: false))) == [.answerJoined(replay: true)])
        #expect(m.state == .joining, "a member only once the replay went out")
        #expect(m.handle(.replayed(caughtUp: true)) == [.enterFromSeam])
        #expect(m.state == .active)
        #expect(m.isMember)
    }

    @Test("a join waits in its channel's line until its turn")
    func waitsForSubscription() {
        var m = M(options: JoinOptions())
        #expect(m.handle(.proceed(.later)) == [.waitForChannel])
        #expect(m.state == .waitingForSubscription)
        #expect(m.handle(.turn(M.Turn())) == [.runScript(M.Script(replay: false))])
        #expect(m.handle(.turn(M.Turn())) == [], "a second turn does nothing")
    }

    @Test("Redis gone: the join is refused at once rather than hang")
    func unavailable() {
        var m = M(options: JoinOptions())
        #expect(m.handle(.proceed(.unavailable)) == refusal(.unavailable))
        #expect(m.state == .gone)
    }

    @Test("the reply before the notice: activating until the notice arrives (the other side of the seam)")
    func replyEarly() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        _ = m.handle(.replied(.joined(protected: false)))
        #expect(m.handle(.replayed(caughtUp: false)) == [.awaitNotice])
        #expect(m.state == .activating)
        #expect(m.isMember, "a member for presence and sends already")
        #expect(m.handle(.send(held("hi", 1))) == [.publish([held("hi", 1)])])
        #expect(m.handle(.noticeArrived) == [])
        #expect(m.state == .active)
    }

    @Test("the subscription lost while waiting in the line: refused")
    func storageLost() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        #expect(m.handle(.storageLost) == refusal(.unavailable))
        var running = M(options: JoinOptions())
        _ = running.handle(.proceed(now))
        #expect(running.handle(.storageLost) == [], "a script in flight answers for itself")
    }

    @Test("no join goes out while leaves wait for Redis")
    func leavesWaiting() {
        var m = M(options: JoinOptions())
        #expect(m.handle(.proceed(.now(M.Turn(leavesWaiting: true)))) == [.releaseHistorySlot] + refusal(.catchingUp))
    }

    // MARK: Held sends

    @Test("messages sent while joining are held and published right after the join")
    func heldSendsPublishedAfterJoin() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        #expect(m.handle(.send(held("a", 1))) == [])
        _ = m.handle(.turn(M.Turn()))
        #expect(m.handle(.send(held("b", 2))) == [])
        #expect(m.held == [held("a", 1), held("b", 2)])
        _ = m.handle(.replied(.joined(protected: false)))
        #expect(m.handle(.replayed(caughtUp: true)) == [.enterFromSeam, .publish([held("a", 1), held("b", 2)])])
        #expect(m.held.isEmpty)
    }

    @Test("held messages are bounded: the one over the bound is refused")
    func heldSendLimit() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        for k in 0..<M.heldSendLimit { #expect(m.handle(.send(held("m", Int64(k)))) == []) }
        #expect(m.handle(.send(held("over", 99))) == [.refuseSend(ref: .integer(99), .overLimit)])
        #expect(m.held.count == M.heldSendLimit)
    }

    @Test("a refused join with held messages: the error first, then each message not_joined")
    func refusedJoinDropsHeldSends() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        _ = m.handle(.send(held("a", 1)))
        _ = m.handle(.send(held("b", 2)))
        #expect(
            m.handle(.replied(.nicknameTaken)) == [
                .refuse(.nicknameTaken), .dropHeld([held("a", 1), held("b", 2)]),
                .closeSeedConnection(.nicknameTaken),
            ])
        #expect(m.handle(.send(held("c", 3))) == [.refuseSend(ref: .integer(3), .notJoined)])
    }

    // MARK: Leave while joining, in every state

    @Test("join then leave before the subscription, with a send between: joined, not_joined, then the leave's left")
    func joinSendLeaveBeforeSubscription() {
        // test_redis.py::test_join_leave_join_before_the_channel_is_subscribed_answers_in_order
        var m = M(options: JoinOptions(history: 10))
        _ = m.handle(.proceed(.later))
        #expect(m.handle(.send(held("hi", 1))) == [])
        #expect(m.handle(.leave(ack: true, ref: .string("l1"))) == [], "the leave waits for its join")
        #expect(m.leaveQueued)
        #expect(
            m.handle(.turn(M.Turn()))
                == [.runScript(M.Script(replay: false)), .sendLeave(ack: true, ref: .string("l1"))],
            "no history read for a join already left; the leave right behind the script")
        #expect(m.state == .cancelled)
        #expect(
            m.handle(.replied(.joined(protected: false)))
                == [.answerJoined(replay: false), .dropHeld([held("hi", 1)])])
        #expect(m.state == .gone)
        // The second join of the burst is a machine of its own, with its own member field.
        var again = M(options: JoinOptions())
        #expect(again.handle(.proceed(now)) == [.runScript(M.Script(replay: false))])
    }

    @Test("join then leave while the script is in flight: the leave goes right behind it")
    func leaveWhileJoining() {
        // test_redis.py::test_join_leave_join_in_one_write_keeps_the_count_right
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        #expect(m.handle(.leave(ack: true, ref: .string("l1"))) == [.sendLeave(ack: true, ref: .string("l1"))])
        #expect(m.state == .cancelled)
        #expect(m.handle(.leave(ack: true, ref: .string("l2"))) == [], "left once")
        #expect(m.handle(.send(held("x", 1))) == [.refuseSend(ref: .integer(1), .notJoined)])
        #expect(m.handle(.replied(.joined(protected: false))) == [.answerJoined(replay: false)])
        #expect(m.handle(.replayed(caughtUp: true)) == [], "never a member")
    }

    @Test("closed while the script is in flight: the leave follows unanswered; the join is not acknowledged")
    func closedWhileJoining() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        _ = m.handle(.send(held("x", 1)))
        #expect(m.handle(.leave(ack: false, ref: nil)) == [.sendLeave(ack: false, ref: nil)])
        #expect(m.handle(.replied(.joined(protected: false))) == [.dropHeld([held("x", 1)])])
    }

    @Test("left while the script ran and it did not join: not completed, left meanwhile")
    func leftAndNotJoined() {
        var m = M(options: JoinOptions(password: "pw"))
        _ = m.handle(.proceed(now))
        _ = m.handle(.leave(ack: true, ref: .string("l")))
        #expect(
            m.handle(.replied(.verify(hash: "h")))
                == [.answerLeftMeanwhile], "no password check for a join already left")
        #expect(m.state == .gone)
        var closed = M(options: JoinOptions())
        _ = closed.handle(.proceed(now))
        _ = closed.handle(.leave(ack: false, ref: nil))
        #expect(closed.handle(.replied(.nicknameTaken)) == [])
    }

    @Test("closed while waiting in the channel's line: out of the line, nothing to answer")
    func closedWhileWaitingForSubscription() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        #expect(m.handle(.leave(ack: false, ref: nil)) == [.leaveChannelLine])
        #expect(m.state == .gone)
        #expect(m.handle(.turn(M.Turn())) == [])
        #expect(m.handle(.storageLost) == [])
    }

    @Test("left, then dropped, while waiting in the channel's line: the turn ends it without a script")
    func leftThenDroppedWhileWaiting() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        _ = m.handle(.leave(ack: true, ref: nil))
        #expect(m.handle(.turn(M.Turn(connectionOpen: false))) == [.releaseHistorySlot])
        #expect(m.state == .gone)
    }

    @Test("left while waiting in the line, then the subscription lost: the error, then the leave's left")
    func leftThenStorageLost() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(.later))
        _ = m.handle(.leave(ack: true, ref: .string("l")))
        #expect(
            m.handle(.storageLost)
                == [.refuse(.unavailable), .answerLeft(ref: .string("l")), .closeSeedConnection(.unavailable)])
    }

    @Test("leave an active member or one waiting for its notice")
    func leaveMember() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        _ = m.handle(.replied(.joined(protected: false)))
        _ = m.handle(.replayed(caughtUp: true))
        #expect(
            m.handle(.leave(ack: true, ref: .integer(7)))
                == [.leaveMembers, .sendLeave(ack: true, ref: .integer(7))])
        #expect(m.state == .gone)
        #expect(m.handle(.leave(ack: false, ref: nil)) == [])
        var a = M(options: JoinOptions())
        _ = a.handle(.proceed(now))
        _ = a.handle(.replied(.joined(protected: false)))
        _ = a.handle(.replayed(caughtUp: false))
        #expect(a.handle(.leave(ack: false, ref: nil)) == [.stopActivating, .sendLeave(ack: false, ref: nil)])
        #expect(a.handle(.noticeArrived) == [])
        #expect(a.state == .gone, "a notice after the leave does not bring it back")
    }

    @Test("the replay found the client too slow and closed it: never a member, its held sends dropped")
    func closedDuringReplay() {
        var m = M(options: JoinOptions(history: 5))
        _ = m.handle(.proceed(.now(M.Turn(holdsHistorySlot: true))))
        _ = m.handle(.send(held("x", 1)))
        #expect(m.handle(.replied(.joined(protected: false))) == [.answerJoined(replay: true)])
        // The close (during the replay) leaves: the script is done, the leave goes out.
        #expect(m.handle(.leave(ack: false, ref: nil)) == [.sendLeave(ack: false, ref: nil)])
        #expect(m.handle(.replayed(caughtUp: true)) == [.dropHeld([held("x", 1)])])
        #expect(m.state == .gone)
    }

    // MARK: History-read turns

    @Test("a join with a replay asks for a history-read slot; without one it waits for its turn")
    func historyTurn() {
        var m = M(options: JoinOptions(since: "1-0"))
        #expect(m.handle(.proceed(now)) == [.askHistorySlot])
        #expect(m.handle(.historySlot(granted: false)) == [.waitForHistoryTurn])
        #expect(m.state == .waitingForReplay)
        #expect(m.handle(.send(held("q", 1))) == [])
        #expect(
            m.handle(.historyTurn(redisReady: true, M.Turn(holdsHistorySlot: true)))
                == [.runScript(M.Script(replay: true))])
        var granted = M(options: JoinOptions(history: 3))
        _ = granted.handle(.proceed(now))
        #expect(granted.handle(.historySlot(granted: true)) == [.runScript(M.Script(replay: true))])
    }

    @Test("left while waiting for its history turn, then dropped: the turn releases the slot, no script")
    func leftWhileWaitingForHistoryThenDropped() {
        // test_hostile.py::test_joins_waiting_for_history_leave_nothing_behind
        var m = M(options: JoinOptions(history: 5))
        _ = m.handle(.proceed(now))
        _ = m.handle(.historySlot(granted: false))
        #expect(m.handle(.leave(ack: true, ref: nil)) == [])
        #expect(
            m.handle(.historyTurn(redisReady: true, M.Turn(connectionOpen: false, holdsHistorySlot: true)))
                == [.releaseHistorySlot])
        #expect(m.state == .gone)
    }

    @Test("left while waiting for its history turn: joined and left at its turn, without reading history")
    func leftWhileWaitingForHistory() {
        var m = M(options: JoinOptions(history: 5))
        _ = m.handle(.proceed(now))
        _ = m.handle(.historySlot(granted: false))
        _ = m.handle(.leave(ack: true, ref: .string("l")))
        #expect(
            m.handle(.historyTurn(redisReady: true, M.Turn(holdsHistorySlot: true)))
                == [.runScript(M.Script(replay: false)), .sendLeave(ack: true, ref: .string("l"))])
    }

    @Test("dropped while waiting for its history turn: out of the line; a turn handed out anyway gives the slot back")
    func droppedWhileWaitingForHistory() {
        var m = M(options: JoinOptions(history: 5))
        _ = m.handle(.proceed(now))
        _ = m.handle(.historySlot(granted: false))
        #expect(m.handle(.leave(ack: false, ref: nil)) == [.leaveHistoryLine])
        #expect(m.handle(.historyTurn(redisReady: true, M.Turn(holdsHistorySlot: true))) == [.releaseHistorySlot])
    }

    @Test("Redis went away while a join waited for its history turn")
    func historyTurnWithoutRedis() {
        var m = M(options: JoinOptions(history: 5))
        _ = m.handle(.proceed(now))
        _ = m.handle(.historySlot(granted: false))
        _ = m.handle(.send(held("q", 1)))
        #expect(
            m.handle(.historyTurn(redisReady: false, M.Turn(holdsHistorySlot: true)))
                == [
                    .releaseHistorySlot, .refuse(.unavailable),
                    .dropHeld([held("q", 1)]), .closeSeedConnection(.unavailable),
                ])
    }

    // MARK: Passwords

    @Test("a protected channel: the password checked off the loop, then the script again with the verified hash")
    func passwordVerified() {
        var m = M(options: JoinOptions(password: "pw"))
        #expect(m.handle(.proceed(now)) == [.runScript(M.Script(replay: false, newPassword: "?"))])
        #expect(m.handle(.replied(.verify(hash: "HASH"))) == [.askPasswordAttempt])
        #expect(
            m.handle(.passwordAttempt(allowed: true, checksRunning: 0))
                == [.checkPassword(.verify(password: "pw", hash: "HASH"))])
        #expect(m.state == .authorizing)
        #expect(m.handle(.send(held("s", 1))) == [], "held during the check too")
        #expect(m.handle(.passwordChecked(.verified(true))) == [.forgiveWrongPassword, .proceed])
        #expect(m.handle(.proceed(.later)) == [.waitForChannel])
        #expect(
            m.handle(.turn(M.Turn()))
                == [.runScript(M.Script(replay: false, verifiedHash: "HASH", newPassword: "?"))])
        #expect(m.attempts == 2)
        #expect(
            m.handle(.replied(.joined(protected: true)))
                == [.rememberPassword(hash: "HASH"), .answerJoined(replay: true)])
        #expect(m.handle(.replayed(caughtUp: true)) == [.enterFromSeam, .publish([held("s", 1)])])
    }

    @Test("a wrong password refuses the join")
    func wrongPassword() {
        var m = M(options: JoinOptions(password: "nope"))
        _ = m.handle(.proceed(now))
        _ = m.handle(.replied(.verify(hash: "HASH")))
        _ = m.handle(.passwordAttempt(allowed: true, checksRunning: 3))
        #expect(m.handle(.passwordChecked(.verified(false))) == refusal(.wrongPassword))
        #expect(M.Refusal.wrongPassword.code == .wrongPassword)
    }

    @Test("left during the password check: the check goes on, and so does the join with the leave behind it")
    func leftDuringPasswordCheck() {
        var m = M(options: JoinOptions(password: "pw"))
        _ = m.handle(.proceed(now))
        _ = m.handle(.replied(.verify(hash: "HASH")))
        _ = m.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        #expect(m.handle(.leave(ack: true, ref: .string("l"))) == [])
        #expect(m.handle(.passwordChecked(.verified(true))) == [.forgiveWrongPassword, .proceed])
        #expect(
            m.handle(.proceed(now)) == [
                .runScript(M.Script(replay: false, verifiedHash: "HASH", newPassword: "?")),
                .sendLeave(ack: true, ref: .string("l")),
            ])
        var wrong = M(options: JoinOptions(password: "x"))
        _ = wrong.handle(.proceed(now))
        _ = wrong.handle(.replied(.verify(hash: "HASH")))
        _ = wrong.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        _ = wrong.handle(.leave(ack: true, ref: .string("l")))
        #expect(
            wrong.handle(.passwordChecked(.verified(false)))
                == [.refuse(.wrongPassword), .answerLeft(ref: .string("l")), .closeSeedConnection(.wrongPassword)])
    }

    @Test("closed during the password check: a right password is still forgiven, nothing else happens")
    func closedDuringPasswordCheck() {
        var m = M(options: JoinOptions(password: "pw"))
        _ = m.handle(.proceed(now))
        _ = m.handle(.replied(.verify(hash: "HASH")))
        _ = m.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        #expect(m.handle(.leave(ack: false, ref: nil)) == [])
        #expect(m.state == .gone)
        #expect(m.handle(.passwordChecked(.verified(true))) == [.forgiveWrongPassword])
        var wrong = M(options: JoinOptions(password: "pw"))
        _ = wrong.handle(.proceed(now))
        _ = wrong.handle(.replied(.verify(hash: "HASH")))
        _ = wrong.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        _ = wrong.handle(.leave(ack: false, ref: nil))
        #expect(wrong.handle(.passwordChecked(.verified(false))) == [])
    }

    @Test("password refusals: none given, over the address's attempts, too many checks at once, the hasher full")
    func passwordRefusals() {
        var none = M(options: JoinOptions())
        _ = none.handle(.proceed(now))
        #expect(none.handle(.replied(.verify(hash: "HASH"))) == refusal(.needsPassword))
        var limited = M(options: JoinOptions(password: "pw"))
        _ = limited.handle(.proceed(now))
        _ = limited.handle(.replied(.verify(hash: "HASH")))
        #expect(limited.handle(.passwordAttempt(allowed: false, checksRunning: 0)) == refusal(.tooManyPasswordAttempts))
        var busy = M(options: JoinOptions(password: "pw"))
        _ = busy.handle(.proceed(now))
        _ = busy.handle(.replied(.verify(hash: "HASH")))
        #expect(
            busy.handle(.passwordAttempt(allowed: true, checksRunning: M.passwordChecksPerConnection))
                == refusal(.tooManyPasswordChecks))
        var full = M(options: JoinOptions(password: "pw"))
        _ = full.handle(.proceed(now))
        _ = full.handle(.replied(.verify(hash: "HASH")))
        _ = full.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        #expect(full.handle(.passwordCheckRefused) == refusal(.checksBusy))
        var redisLimited = M(options: JoinOptions(password: "pw"))
        _ = redisLimited.handle(.proceed(now))
        #expect(
            redisLimited.handle(.replied(.passwordLimited(waitMillis: 1_500)))
                == refusal(.passwordLimited(waitMillis: 1_500)))
        #expect(
            M.Refusal.passwordLimited(waitMillis: 1_500).message(channel: "c", nickname: "n")
                == "too many wrong passwords for channel c from your address: try again in 2 s")
    }

    @Test("the password removed since it was asked for: the script runs again without one")
    func passwordRemoved() {
        var m = M(options: JoinOptions(password: "pw"))
        _ = m.handle(.proceed(now))
        #expect(m.handle(.replied(.verify(hash: ""))) == [.proceed])
        #expect(m.handle(.proceed(now)) == [.runScript(M.Script(replay: false, newPassword: "?"))])
    }

    @Test("a password that keeps changing: at most four scripts")
    func passwordKeepsChanging() {
        var m = M(options: JoinOptions(password: "pw"))
        for k in 1...M.scriptRunLimit {
            #expect(m.handle(.proceed(now)).count == 1)
            #expect(m.attempts == k)
            if k == M.scriptRunLimit { break }
            _ = m.handle(.replied(.verify(hash: "H\(k)")))
            _ = m.handle(.passwordAttempt(allowed: true, checksRunning: 0))
            #expect(m.handle(.passwordChecked(.verified(true))) == [.forgiveWrongPassword, .proceed])
        }
        #expect(m.handle(.replied(.verify(hash: "H9"))) == refusal(.passwordKeepsChanging))
    }

    @Test("claim: the client's password hashed and given to the script, remembered once protected")
    func claim() {
        var m = M(options: JoinOptions(password: "pw"))
        _ = m.handle(.proceed(now))
        #expect(m.handle(.replied(.claim)) == [.askPasswordAttempt])
        #expect(m.handle(.passwordAttempt(allowed: true, checksRunning: 0)) == [.checkPassword(.hash(password: "pw"))])
        #expect(m.handle(.passwordChecked(.hashed("$H"))) == [.proceed])
        #expect(m.handle(.proceed(now)) == [.runScript(M.Script(replay: false, newPassword: "$H"))])
        #expect(
            m.handle(.replied(.joined(protected: true)))
                == [.rememberPassword(hash: "$H"), .answerJoined(replay: true)])
        var failed = M(options: JoinOptions(password: "pw"))
        _ = failed.handle(.proceed(now))
        _ = failed.handle(.replied(.claim))
        _ = failed.handle(.passwordAttempt(allowed: true, checksRunning: 0))
        #expect(failed.handle(.passwordChecked(.hashed(nil))) == refusal(.hashFailed))
        var none = M(options: JoinOptions())
        _ = none.handle(.proceed(now))
        #expect(none.handle(.replied(.claim)) == refusal(.cannotSetPassword))
    }

    @Test("protected without a hash of ours: nothing to remember")
    func protectedWithoutHash() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        #expect(m.handle(.replied(.joined(protected: true))) == [.answerJoined(replay: true)])
    }

    // MARK: New channels, failures

    @Test("a new channel: the address's allowance asked, then the script again allowed to create it")
    func newChannel() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        #expect(m.handle(.replied(.new)) == [.askChannelCreation])
        #expect(m.handle(.channelCreation(allowed: true)) == [.proceed])
        #expect(m.handle(.proceed(now)) == [.runScript(M.Script(replay: false, mayCreate: true))])
        var limited = M(options: JoinOptions())
        _ = limited.handle(.proceed(now))
        _ = limited.handle(.replied(.new))
        #expect(limited.handle(.channelCreation(allowed: false)) == refusal(.tooManyNewChannels))
        #expect(M.Refusal.tooManyNewChannels.code == .rateLimited)
    }

    @Test("no answer from the script: the member entry is removed to be sure, and the join refused")
    func scriptFailed() {
        var m = M(options: JoinOptions())
        _ = m.handle(.proceed(now))
        _ = m.handle(.send(held("x", 1)))
        #expect(
            m.handle(.replied(.failed)) == [
                .forgetMember, .refuse(.unavailable), .dropHeld([held("x", 1)]),
                .closeSeedConnection(.unavailable),
            ])
        var left = M(options: JoinOptions())
        _ = left.handle(.proceed(now))
        _ = left.handle(.leave(ack: true, ref: nil))
        #expect(left.handle(.replied(.failed)) == [.forgetMember], "its leave answers the client")
    }

    @Test("events out of place do nothing")
    func outOfPlace() {
        var m = M(options: JoinOptions())
        #expect(m.handle(.replied(.joined(protected: false))) == [])
        #expect(m.handle(.passwordChecked(.verified(true))) == [.forgiveWrongPassword])
        #expect(m.handle(.passwordAttempt(allowed: true, checksRunning: 0)) == [])
        #expect(m.handle(.channelCreation(allowed: true)) == [])
        #expect(m.handle(.noticeArrived) == [])
        #expect(m.state == .waitingForSubscription)
    }
}
