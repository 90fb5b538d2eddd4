// Sends not yet seen coming back (each message a client sends is delivered to it too).
// Nothing typed is lost silently: a send refused, or one an earlier connection took
// with it, is found here. Pure (the clock is an argument); bounded.

const LIMIT = 50;
const GIVE_UP_MS = 60000;   // on a connection that answers, an echo not matched by then is not coming

export class Unconfirmed {
  constructor() { this.list = []; }   // {ref, connection, channel, text, at, sent}

  add(ref, connection, channel, text, now) {
    this.list.push({ ref, connection, channel, text, at: now, sent: now });
    if (this.list.length > LIMIT) this.list.shift();
  }

  // Our own message came back: the ref it was sent with, or undefined.
  confirm(channel, text) {
    const i = this.list.findIndex((u) => u.channel === channel && u.text === text);
    if (i < 0) return undefined;
    return this.list.splice(i, 1)[0].ref;
  }

  dropRef(ref) { this.list = this.list.filter((u) => u.ref !== ref); }
  dropChannel(channel) { this.list = this.list.filter((u) => u.channel !== channel); }
  clear() { this.list = []; }
  has(channel, text) { return this.list.some((u) => u.channel === channel && u.text === text); }

  // For the liveness check: true when a send of this connection has not come back
  // within `overdueMs` (each counts once every overdueMs); forgets those given up on.
  sweep(now, connection, overdueMs) {
    let overdue = false;
    for (const u of this.list) {
      if (u.connection === connection && now - u.at > overdueMs) {
        overdue = true;
        u.at = now;
      }
    }
    this.list = this.list.filter((u) => u.connection !== connection || now - u.sent < GIVE_UP_MS);
    return overdue;
  }

  // A channel resumed on connection `connection` and its own join notice came: its sends
  // from earlier connections that have not come back by now never arrived — certainly so
  // when the join resumed with `since` and the replay was complete. Returns the texts to
  // report (not those written again since: in the outbox or sent anew) and whether certain.
  takeLost(ch, connection) {
    const lost = this.list.filter((u) => u.channel === ch.name && u.connection < connection);
    if (!lost.length) return { texts: [], certain: false };
    this.list = this.list.filter((u) => !lost.includes(u));
    const certain = ch.countReplay && ch.truncatedRef !== ch.joinRef;
    const again = (t) => ch.outbox.includes(t) || this.has(ch.name, t);
    return { texts: lost.map((u) => u.text).filter((t) => !again(t)), certain };
  }
}
