// Sending messages, and nothing typed lost: what the server refused, what a lost
// connection took with it and what a refused join held comes back into the box or the
// channel's draft. `c`: the Client of client.mjs.

import { ERROR_TEXT, sendOp, tooLong, wellFormed } from "../protocol.mjs";
import { HINT_NO_CHANNEL } from "../view/composer.mjs";
import { OUTBOX_LIMIT } from "./channel.mjs";

// Our own join notice comes after the replay of everything since the last id: sends
// of an earlier connection not back by now never arrived (session/unconfirmed.mjs).
// Each is shown in the channel, and they go back into the box when that is certain.
export function resumed(c, ch) {
  const { texts, certain } = c.unconfirmed.takeLost(ch, c.link.connection);
  for (const t of texts) {
    const text = `${certain ? "Not" : "Maybe not"} delivered (the connection dropped): “${t}”`;
    c.addLine(ch, { kind: "error", text });
  }
  if (certain && texts.length) {
    c.giveBack(ch, texts, "Your message did not arrive before the connection dropped: it is back in the box.", false);
  }
}

// Puts undelivered texts back (nothing typed is lost): each is shown in the channel's
// log (unless the caller already did), and they go into the box when it is this
// channel's and free, otherwise into the channel's draft, for when it is opened.
export function giveBack(c, ch, texts, hint, showLines = true) {
  if (!texts.length) return;
  if (showLines) for (const t of texts) c.addLine(ch, { kind: "error", text: `Not sent: “${t}”` });
  const text = texts.join("\n");
  const composer = c.view.composer;
  if (ch.name === c.active && !composer.value) {
    composer.value = text;
    composer.autoGrow();
    c.restored = { channel: ch.name, text };
    if (hint) c.setHint(hint);
  } else {
    ch.draft = ch.draft ? `${ch.draft}\n${text}` : text;
  }
}

// The message box's text: sent, held while its channel is joined, or refused with a hint.
export function submitMessage(c) {
  const composer = c.view.composer;
  const text = wellFormed(composer.value);
  const ch = c.activeChannel();
  if (!text.trim()) {
    if (text) c.setHint("The message is empty.");
    return;
  }
  const refused = !ch ? HINT_NO_CHANNEL
    : tooLong(text, c.maxLength) ? ERROR_TEXT.message_too_long({}, c.ctx)
    : c.phase !== "open" ? "Not connected: your message was not sent. It is still in the box."
    : "";
  if (refused) return c.setHint(refused);
  if (ch.phase !== "joined" && ch.phase !== "joining") return c.updateComposer();
  if (ch.phase === "joining") {
    // Held here until the join is through (and given back if it is refused).
    if (ch.outbox.length >= OUTBOX_LIMIT) return c.setHint("Still joining: wait a moment.");
    ch.outbox.push(text);
  } else if (!c.sendMessage(ch, text)) {
    return;
  }
  composer.value = "";
  c.setHint("");
  composer.autoGrow();
}

export function sendMessage(c, ch, text) {
  const ref = c.link.send(sendOp(ch.name, text), { text });
  if (!ref) return false;
  c.unconfirmed.add(ref, c.link.connection, ch.name, text, Date.now());
  return true;
}
