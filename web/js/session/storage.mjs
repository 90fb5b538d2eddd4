// The session kept across visits (localStorage): the nickname, the open channels with
// the last id shown in each, and the channel on screen. Passwords are never stored.
// The storage is given (node tests pass a fake); it may refuse (private mode).

import { parseId } from "../protocol.mjs";

export const STORAGE_KEY = "chat-server.session";

export function saveSession(storage, { nickname, channels, active }) {
  const data = { nickname, channels: channels.map((c) => ({ name: c.name, lastId: c.lastId })), active };
  try { storage.setItem(STORAGE_KEY, JSON.stringify(data)); } catch (_) { /* private mode */ }
}

// The stored session, or null. Channels of an older format (names only) are taken,
// those with a malformed last id dropped.
export function loadSession(storage) {
  try {
    const data = JSON.parse(storage.getItem(STORAGE_KEY) || "null");
    if (!data || typeof data.nickname !== "string" || !Array.isArray(data.channels)) return null;
    data.channels = data.channels
      .map((c) => (typeof c === "string" ? { name: c, lastId: "" } : c))
      .filter((c) => c && typeof c.name === "string" && (!c.lastId || parseId(c.lastId)));
    return data;
  } catch (_) { return null; }
}

export function forgetSession(storage) {
  try { storage.removeItem(STORAGE_KEY); } catch (_) { /* ignore */ }
}
