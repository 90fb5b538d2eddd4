// One session per browser: a second tab would fight the first over the nickname
// (nickname_taken) and the stored channel list, so only one tab is connected; the other
// offers to take over. Tabs find each other over a BroadcastChannel (given: `bus`, or
// null where there is none). Messages: hello (who has it?), here (I do), take (it is
// mine now; the later take wins), released (saved, let go), signout (forget it everywhere).

export class TabLock {
  // isActive(): this tab is signed in and connected (not parked). Handlers: onPark(why),
  // onSignOut(), onReleased() (after waitForRelease).
  constructor(bus, { pageId, now = Date.now, isActive, isSignedIn, onPark, onSignOut }) {
    this.bus = bus;
    this.pageId = pageId;
    this.now = now;
    this.isActive = isActive;
    this.isSignedIn = isSignedIn;
    this.onPark = onPark;
    this.onSignOut = onSignOut;
    this.heardOther = false;
    this.takenAt = 0;
    this.released = null;
    if (bus) bus.onmessage = (m) => this.receive(m.data || {});
  }

  announce(type) {
    if (type === "take") this.takenAt = this.now();
    if (this.bus) this.bus.postMessage({ type, from: this.pageId, at: this.takenAt });
  }

  // Asks whether another tab has the session: `heardOther` tells after a short wait.
  ask() {
    this.heardOther = false;
    this.announce("hello");
  }

  // Calls back once another tab says it let go (after a "take" of ours).
  waitForRelease(callback) { this.released = callback; }

  laterThanOurs(msg) {
    return msg.at > this.takenAt || (msg.at === this.takenAt && msg.from > this.pageId);
  }

  receive(msg) {
    if (msg.from === this.pageId) return;
    const active = this.isActive();
    if (msg.type === "hello" && active) this.bus.postMessage({ type: "here", from: this.pageId, to: msg.from });
    else if (msg.type === "here" && msg.to === this.pageId) this.heardOther = true;
    else if (msg.type === "take" && active && this.laterThanOurs(msg)) {
      // The later take wins (two tabs restoring at once must not park each other).
      this.onPark("This chat moved to another tab of this browser.");
    } else if (msg.type === "signout" && this.isSignedIn()) this.onSignOut();
    else if (msg.type === "released" && this.released) this.released();
  }
}
