// Signing in and out, and one connected tab per browser (session/tablock.mjs): a tab
// that finds the session in use waits (parked) and offers to take it over.
// `c`: the Client of client.mjs.

import { forgetSession } from "./storage.mjs";

export function signIn(c, nickname, channels, active, parked) {
  c.nickname = nickname;
  c.signedOut = false;
  c.parked = false;
  c.attempts = 0;
  c.view.login.showApp();
  c.view.status.signedIn(true);
  for (const ch of channels) c.openChannel(ch.name, ch);
  const first = c.channels.keys().next();
  c.activate(active && c.channels.has(active) ? active : first.value, false);
  if (parked) {
    park(c, "This chat is open in another tab of this browser.", false);
  } else {
    c.save();
    c.connect();
    // Channels picked now are asked for on this connection (refusals are final).
    for (const ch of c.channels.values()) if (!ch.restored) ch.askedOn = c.link.connection;
    c.tabLock.announce("take");
  }
  c.view.composer.focus();
}

// Another tab has the session: let go of the connection (handOver: save our last ids
// first, for the other tab to continue from, and say so).
export function park(c, why, handOver = true) {
  if (handOver) c.save();
  c.parked = true;
  clearTimeout(c.retryTimer);
  clearTimeout(c.stableTimer);
  clearInterval(c.countdownTimer);
  c.link.drop();
  for (const ch of c.channels.values()) {
    clearTimeout(ch.retryTimer);
    if (ch.phase !== "locked") ch.phase = "idle";
    c.giveBack(ch, ch.outbox.splice(0), "");   // not sent from here later, by surprise
  }
  c.setPhase("idle", why);
  c.view.status.showUseHere(true);
  c.renderHeader();
  if (handOver) c.tabLock.announce("released");
}

// Use it here: the other tab parks and saves its session (channels joined or left
// there since); this page then starts again from that stored session.
export function takeOver(c) {
  if (!c.parked) return;
  c.view.status.showUseHere(false);
  c.setPhase("connecting", "Taking over…");
  const timer = setTimeout(c.env.reload, 500);
  c.tabLock.waitForRelease(() => {
    clearTimeout(timer);
    c.env.reload();
  });
  c.tabLock.announce("take");
}

// Back from the back/forward cache: another tab may have the session by now.
export function cameBack(c) {
  if (c.signedOut || c.parked) return;
  c.tabLock.ask();
  setTimeout(() => {
    if (c.tabLock.heardOther) park(c, "This chat is open in another tab of this browser.", false);
    else {
      c.tabLock.announce("take");
      c.wake();
    }
  }, c.env.tabWaitMs);
}

export function signOut(c, message) {
  if (!c.signedOut) c.tabLock.announce("signout");   // the session is forgotten in every tab
  c.signedOut = true;
  clearTimeout(c.retryTimer);
  clearTimeout(c.stableTimer);
  clearInterval(c.countdownTimer);
  clearTimeout(c.saveTimer);
  c.saveTimer = 0;
  c.link.drop(1000);
  for (const ch of c.channels.values()) {
    clearTimeout(ch.retryTimer);
    clearTimeout(ch.presenceTimer);
    ch.view.remove();
  }
  c.channels.clear();
  c.active = "";
  c.unconfirmed.clear();
  c.link.refs.clear();
  c.restored = null;
  forgetSession(c.env.storage);
  c.view.status.showUseHere(false);
  c.parked = false;
  c.view.status.signedIn(false);
  c.setPhase("idle", "Not connected");
  c.view.login.showLogin(message, c.nickname);
  c.view.tabs.title(0);
}
