// Test doubles for the web client's node tests: a WebSocket, a clock, a storage.

export class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    this.closed = null;
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) {
    this.closed = { code };
    this.readyState = 3;
  }
  // The server's side.
  accept() { this.readyState = FakeSocket.OPEN; }
  receive(ev) { this.onmessage && this.onmessage({ data: typeof ev === "string" ? ev : JSON.stringify(ev) }); }
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose && this.onclose({ code, reason });
  }
  ops(op) { return this.sent.filter((s) => s.op === op); }
  last(op) { return this.ops(op).at(-1); }
}

export function clock(start = 1_000_000) {
  const c = {
    t: start,
    now: () => c.t,
    advance: (ms) => {
      c.t += ms;
      return c.t;
    },
  };
  return c;
}

export class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
}
