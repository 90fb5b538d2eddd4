// A channel the user has open (a tab), as state, and the join policy: what to send,
// what an answer means, when to retry. No DOM, no timers, no clock reads (the time is
// an argument): the page (session/client.mjs) performs what these decide.
//
// `phase`: idle (no request out), joining, joined, waiting (a retry is scheduled),
// locked (needs its password).

import { HISTORY_ON_OPEN, compareIds, joinOp } from "../protocol.mjs";

export const RETRY_MIN_MS = 5000;        // a rejoin refused for a passing reason is retried
export const RETRY_MAX_MS = 60000;
export const GHOST_RETRIES = 12;         // nickname_taken on a rejoin: our old connection, for about a minute
export const OUTBOX_LIMIT = 20;          // messages written while joining, held until joined
export const TEMPORARY = new Set(["rate_limited", "unavailable", "nickname_taken"]);

// opts: {password, lastId, restored (from storage), atSignIn (picked on the sign-in form)};
// `connection`: the connection it is asked for on (refusals there are final).
export function newChannel(name, opts, connection) {
  return {
    name, phase: "idle", password: opts.password || "", lastId: opts.lastId || "", restored: !!opts.restored,
    atSignIn: !!opts.atSignIn,
    everJoined: false, joinRef: 0, joinNoticeId: "", countReplay: false, retries: 0, noted: "",
    askedOn: opts.restored ? 0 : connection, typedPassword: !!opts.password, withPassword: false,
    truncatedRef: 0, stale: false, outbox: [], draft: "",
    members: null, count: 0, isProtected: false, unread: 0, lastPresence: 0, tooBig: false,
  };
}

// The join to send, or null while one is out, the channel is joined or waits for its password.
export function joinRequest(ch) {
  if (ch.phase === "joining" || ch.phase === "joined" || ch.phase === "locked") return null;
  // A password the user typed goes with that join (it may create the protection). A
  // rejoin goes without it first and adds it only after `wrong_password`: a channel
  // that became public (and, after a restart, empty) must not be protected again.
  const password = ch.password && (ch.typedPassword || ch.withPassword) ? ch.password : "";
  ch.withPassword = false;
  // Resume exactly after the last event shown; a channel opened fresh shows recent history.
  return joinOp(ch.name, { password, since: ch.lastId, history: HISTORY_ON_OPEN });
}

export function joinSent(ch, ref) {
  ch.joinRef = ref;
  ch.phase = "joining";
  ch.countReplay = !!ch.lastId;   // a resume: what was missed is unread; history of a new tab is not
  ch.truncatedRef = 0;
}

// The password typed into the channel's lock form (empty: try without; it may have been removed).
export function typedPassword(ch, password) {
  ch.password = password;
  ch.typedPassword = !!password;
  ch.phase = "idle";
}

// `joined`: false when it answers an earlier, abandoned join.
export function joined(ch, ev, now) {
  if (ev.ref !== ch.joinRef) return false;
  ch.phase = "joined";
  ch.everJoined = true;
  ch.retries = 0;
  ch.noted = "";
  ch.count = ev.count;
  ch.members = Array.isArray(ev.members) ? new Set(ev.members) : null;
  ch.tooBig = !ch.members;
  ch.isProtected = !!ev.protected;
  ch.typedPassword = false;     // from now on a rejoin tries without it first
  if (!ch.isProtected) ch.password = "";
  ch.joinNoticeId = ev.id || "";
  ch.lastPresence = now;
  ch.stale = false;
  return true;
}

// Whether to show an event of this channel. Ids of one channel grow strictly: anything
// at or before the last one shown is a repeat; nothing is taken between a join and its
// `joined`. Returns "" (drop it), "take" (no id), "new" (a new last id: save it) or
// "resumed" (our own join notice: the replay before it is complete).
export function accept(ch, ev) {
  if (ch.phase !== "joined") return "";
  if (!ev.id) return "take";
  if (ch.lastId && compareIds(ev.id, ch.lastId) <= 0) return "";
  ch.lastId = ev.id;
  return ev.id === ch.joinNoticeId ? "resumed" : "new";
}

// A join or leave notice (not replayed): count and members. True when the list no
// longer matches the count (ask for it).
export function memberNotice(ch, ev) {
  if (typeof ev.count === "number") ch.count = ev.count;
  if (ch.members && ev.nickname && !ev.quiet) {
    if (ev.event === "join") ch.members.add(ev.nickname);
    else ch.members.delete(ev.nickname);
  }
  return !!ch.members && ch.members.size !== ch.count;
}

export function presence(ch, ev) {
  ch.members = ev.truncated ? null : new Set(ev.members);
  ch.tooBig = !!ev.truncated;
  ch.stale = false;
  ch.count = ev.count;
}

// When to ask for the member list: null when not needed, else in how many ms (≤ 0: now). At most
// every 5 s; a list of hundreds of names every 30 s; too big to list: once a minute.
export function presenceWait(ch, now) {
  if (ch.phase !== "joined") return null;
  if (!ch.stale && ch.members && ch.members.size === ch.count) return null;
  const pace = ch.tooBig ? 60000 : ch.count > 100 ? 30000 : 5000;
  return ch.lastPresence + pace - now;
}

// A retry after a passing refusal: the wait (flat 5 s for our own ghost, else a backoff).
export function retryWait(ch, flat) {
  ch.retries += 1;
  return flat ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(ch.retries - 1, 4));
}

// What a refused join means. `pending`: what the join was sent with ({withPassword});
// `connection`: the current one; `text`: the error's sentence. Returns one of
//   {act: "ignore"}                 the answer to an abandoned join
//   {act: "joined"}                 already_joined: the server has us
//   {act: "rejoin"}                 a rejoin without the password met wrong_password: again, with it
//   {act: "lock"}                   wrong_password: the tab stays with a password field
//   {act: "retry", why, flat}       a passing refusal of a channel that was open: again later
//   {act: "signOut"}                nickname_taken in the channel picked at sign-in
//   {act: "close", wasOpen}         refused: the tab goes, the join form says why
export function refusal(ch, ev, pending, connection, text) {
  if (ev.ref !== ch.joinRef) return { act: "ignore" };
  if (ev.code === "already_joined") return { act: "joined" };
  if (ev.code === "wrong_password" && ch.password && !ch.typedPassword && !pending.withPassword) {
    ch.phase = "idle";
    ch.withPassword = true;
    return { act: "rejoin" };
  }
  if (ev.code === "wrong_password") return { act: "lock" };
  // A channel that was open before (this connection or before a reload) waits out
  // passing refusals: our own earlier connection still holding the nickname, a
  // burst of password checks, Redis away. (A join the user asked for on an earlier
  // connection counts as open: its refusal may come from that very connection.)
  const wasOpen = ch.everJoined || ch.restored || ch.askedOn < connection;
  if (wasOpen && TEMPORARY.has(ev.code) && (ev.code !== "nickname_taken" || ch.retries < GHOST_RETRIES)) {
    const ghost = ev.code === "nickname_taken";
    const why = ghost ? "Waiting for your previous connection to time out before rejoining…"
      : ev.code === "unavailable" ? `${text} Rejoining by itself.` : "Rejoining in a moment…";
    // A join refused for the nickname got past the password check, so the channel has
    // members: the retry may carry the password without any risk of protecting it.
    if (ghost && pending.withPassword) ch.withPassword = true;
    return { act: "retry", why, flat: ghost };
  }
  ch.phase = "idle";
  if (ev.code === "nickname_taken" && ch.atSignIn && !ch.everJoined) return { act: "signOut" };
  return { act: "close", wasOpen };
}

// already_joined: taken as joined (the member list is asked for, the count unknown).
export function alreadyJoined(ch) {
  ch.phase = "joined";
  ch.everJoined = true;
  ch.stale = true;
  ch.lastPresence = 0;
}

// wrong_password: locked until a password is typed.
export function locked(ch) {
  ch.phase = "locked";
  ch.password = "";
  ch.typedPassword = false;
  ch.isProtected = true;
}

// The connection is gone: every join is over (a locked channel stays locked).
export function connectionLost(ch) {
  ch.retries = 0;
  if (ch.phase !== "locked") ch.phase = "idle";
}
