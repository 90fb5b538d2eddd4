import CHiredis
import CLibevent
import EventIO

/// hiredis's event hooks for one connection, in place of its libevent adapter, which
/// re-adds a one-shot read event after every read and polls for writability before
/// every write (two epoll_ctl calls and an extra loop turn per command). Here the read
/// event is persistent, and commands are written straight away at the end of the
/// loop turn (all the commands of the turn in one write); the write event is armed
/// only while connecting or when the socket pushes back.
final class RedisEvents {
    private let ac: UnsafeMutablePointer<redisAsyncContext>
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var flush: LoopEvent!
    private var reading = false
    private var writeArmed = false
    private var flushing = false
    /// Until hiredis reports the connection established, writability is how it learns.
    var connected = false

    init(_ ac: UnsafeMutablePointer<redisAsyncContext>, loop: EventLoop) {
        self.ac = ac
        let fd = ac.pointee.c.fd
        let me = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(
            loop.base, fd, Int16(EV_READ | EV_PERSIST),
            { _, _, arg in
                let events = Unmanaged<RedisEvents>.fromOpaque(arg!).takeUnretainedValue()
                redisAsyncHandleRead(events.ac)
            }, me)
        writeEvent = event_new(
            loop.base, fd, Int16(EV_WRITE | EV_PERSIST),
            { _, _, arg in
                let events = Unmanaged<RedisEvents>.fromOpaque(arg!).takeUnretainedValue()
                redisAsyncHandleWrite(events.ac)
            }, me)
        flush = LoopEvent(loop, .deferred) { [unowned self] in
            let events = self  // held until the write returns, even if it frees the context
            events.flushing = true
            redisAsyncHandleWrite(events.ac)
            events.flushing = false
        }
    }

    /// Installs the hooks; hiredis owns the object from here and releases it in `cleanup`.
    static func attach(_ ac: UnsafeMutablePointer<redisAsyncContext>, loop: EventLoop) -> RedisEvents {
        let events = RedisEvents(ac, loop: loop)
        ac.pointee.ev.data = Unmanaged.passRetained(events).toOpaque()
        ac.pointee.ev.addRead = { data in
            let e = Unmanaged<RedisEvents>.fromOpaque(data!).takeUnretainedValue()
            if !e.reading {
                e.reading = true
                event_add(e.readEvent, nil)
            }
        }
        ac.pointee.ev.delRead = { data in
            let e = Unmanaged<RedisEvents>.fromOpaque(data!).takeUnretainedValue()
            if e.reading {
                e.reading = false
                event_del(e.readEvent)
            }
        }
        ac.pointee.ev.addWrite = { data in
            let e = Unmanaged<RedisEvents>.fromOpaque(data!).takeUnretainedValue()
            if !e.connected || e.flushing {
                // Connecting, or the socket did not take everything: wait until writable.
                if !e.writeArmed {
                    e.writeArmed = true
                    event_add(e.writeEvent, nil)
                }
            } else if !e.writeArmed {
                e.flush.trigger()
            }
        }
        ac.pointee.ev.delWrite = { data in
            let e = Unmanaged<RedisEvents>.fromOpaque(data!).takeUnretainedValue()
            if e.writeArmed {
                e.writeArmed = false
                event_del(e.writeEvent)
            }
        }
        ac.pointee.ev.cleanup = { data in
            let e = Unmanaged<RedisEvents>.fromOpaque(data!).takeRetainedValue()
            e.release()
        }
        // What the libevent adapter does on attach: wait for the connection.
        event_add(events.readEvent, nil)
        events.reading = true
        events.writeArmed = true
        event_add(events.writeEvent, nil)
        return events
    }

    private func release() {
        flush.cancel()
        if let readEvent { event_free(readEvent) }
        if let writeEvent { event_free(writeEvent) }
        readEvent = nil
        writeEvent = nil
    }
}
