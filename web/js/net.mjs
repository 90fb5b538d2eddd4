// The socket to the server: one WebSocket at a time, refs for the answers, the
// reconnect backoff and the liveness check (browsers do not ping). No DOM: the
// WebSocket class and the clock are given, so node tests drive it with fakes.

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30000;
export const STABLE_MS = 10000;          // a connection this old resets the reconnect backoff
export const CONNECT_TIMEOUT_MS = 15000;
export const OVERDUE_MS = 5000;          // a send not back by then brings the ping forward
const OPEN = 1;                          // WebSocket.OPEN
const MAX_REFS = 1000;

// The wait before reconnect attempt `attempts` (0 first): 1 s doubling up to 30 s, each
// randomised between half and all of it so a restarted server is not hit all at once.
export function reconnectDelay(attempts, random = Math.random) {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempts);
  return Math.round(delay / 2 + random() * delay / 2);
}

// Liveness periods from the page's address (?ping=S&pong=S, in seconds; the tests use them).
export function livenessTuning(search) {
  const tuning = new URLSearchParams(search);
  return {
    pingEvery: 1000 * (Number(tuning.get("ping")) || 25),   // a ping after this much silence
    pongWait: 1000 * (Number(tuning.get("pong")) || 10),    // no answer by then: reconnect
  };
}

export class Link {
  // onEvent(ev) for every JSON event; onClose(socket, code, reason) when a socket closes.
  constructor({ WebSocket, onEvent, onClose, now = Date.now, pingEvery = 25000, pongWait = 10000 }) {
    this.WebSocket = WebSocket;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.now = now;
    this.pingEvery = pingEvery;
    this.pongWait = pongWait;
    this.ws = null;
    this.connection = 0;     // counts connections, to tell old sends from new
    this.nextRef = 1;
    this.refs = new Map();   // ref → {op, channel, …extra}
    this.connectStarted = 0;
    this.lastReceived = 0;
    this.pingSentAt = 0;
  }

  open(url) {
    this.drop();
    const ws = new this.WebSocket(url);
    this.ws = ws;
    this.connection += 1;
    this.refs.clear();
    this.connectStarted = this.now();
    this.pingSentAt = 0;
    ws.onmessage = (m) => {
      this.lastReceived = this.now();
      this.pingSentAt = 0;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      this.onEvent(ev);
    };
    ws.onclose = (c) => this.onClose(ws, c.code, c.reason);
    return ws;
  }

  // Forgets the socket without waiting for its close handshake (`code`: a clean close).
  drop(code) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      if (code) ws.close(code);
      else ws.close();
    } catch (_) { /* already closed */ }
  }

  // The ref the op went with, or 0 when there is no open socket.
  send(op, extra) {
    if (!this.ws || this.ws.readyState !== OPEN) return 0;
    const ref = this.nextRef++;
    this.refs.set(ref, { op: op.op, channel: op.channel, ...(extra || {}) });
    if (this.refs.size > MAX_REFS) this.refs.delete(this.refs.keys().next().value);
    this.ws.send(JSON.stringify({ ...op, ref }));
    return ref;
  }

  // What an answer's ref was sent with (once).
  take(ref) {
    if (ref === undefined) return undefined;
    const pending = this.refs.get(ref);
    if (pending) this.refs.delete(ref);
    return pending;
  }

  forget(ref) { this.refs.delete(ref); }

  // True when the socket must be given up: a connection attempt that hangs, or a ping
  // with no answer (nothing at all received since it went) within pongWait.
  stalled(phase, now = this.now()) {
    if (!this.ws) return false;
    if (phase === "connecting") return now - this.connectStarted > CONNECT_TIMEOUT_MS;
    if (phase !== "open") return false;
    return !!this.pingSentAt && now - this.pingSentAt > this.pongWait && this.lastReceived < this.pingSentAt;
  }

  // A ping is due after pingEvery of silence, or at once when a send is overdue.
  pingDue(overdue, now = this.now()) {
    return !this.pingSentAt && (now - this.lastReceived >= this.pingEvery || overdue);
  }

  ping() {
    if (this.ws && !this.pingSentAt && this.send({ op: "ping" })) this.pingSentAt = this.now();
  }
}
