// One channel on the page: its tab (name, lock, unread badge) and its panel (the
// password form of a locked channel above the message log).

import { nickColor } from "../protocol.mjs";
import { el, panelId, tabId } from "./dom.mjs";

const MAX_LINES = 1000;   // per channel log; older lines are dropped

// A line of a log: {kind, text, ts?, sender?, label?, alert?}.
export function renderLine(line) {
  const li = el("li", { class: `line ${line.kind}` });
  if (line.ts) {
    const d = new Date(line.ts);
    const shown = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.append(el("time", { datetime: d.toISOString(), title: d.toLocaleString() }, shown));
  }
  if (line.sender !== undefined) {
    const who = el("span", { class: "sender", dir: "auto" }, line.sender);
    who.style.color = nickColor(line.sender);
    li.append(who);
    if (line.label) li.append(el("span", { class: "label" }, line.label));
  }
  li.append(el("span", { class: "text", dir: "auto" }, line.text));
  if (line.alert) li.setAttribute("role", "alert");
  return li;
}

export class ChannelView {
  // onSelect(): the tab was clicked; onPassword(text): the lock form was sent.
  constructor(name, { onSelect, onPassword }) {
    const log = el("ol",
      { class: "log", role: "log", "aria-live": "polite", "aria-labelledby": tabId(name), tabindex: "0" });
    const lockForm = el("form", { class: "lock-form", novalidate: "" });
    const lockInputId = `lock-${encodeURIComponent(name)}`;
    const lockInput = el("input", { id: lockInputId, type: "password", maxlength: "128", autocomplete: "off" });
    lockForm.append(el("label", { for: lockInputId }, `Password for #${name} (empty: try without)`),
      el("div", { class: "row" }, [lockInput, el("button", { type: "submit", class: "primary" }, "Join")]));
    lockForm.hidden = true;
    const panel = el("div",
      { class: "panel", role: "tabpanel", id: panelId(name), "aria-labelledby": tabId(name) }, [lockForm, log]);
    panel.hidden = true;
    const badge = el("span", { class: "badge", "aria-hidden": "true" });
    badge.hidden = true;
    const tabLabel = el("span", { class: "visually-hidden" });
    const lock = el("img",
      { class: "tab-lock", src: "/lock.svg", width: "14", height: "14", alt: "", title: "Protected by a password" });
    lock.hidden = true;
    const tab = el("button", {
      type: "button", role: "tab", class: "tab", id: tabId(name), "aria-controls": panelId(name),
      "aria-selected": "false", tabindex: "-1",
    }, [el("span", { class: "tab-name" }, `#${name}`), lock, badge, tabLabel]);
    Object.assign(this, { panel, log, tab, badge, tabLabel, lock, lockForm, lockInput });
    this.atEnd = true;    // the reader is at the newest line (new lines keep it in view)
    tab.addEventListener("click", onSelect);
    // Follow new lines while the reader is at the end; stay put while they read back.
    log.addEventListener("scroll", () => { if (!panel.hidden) this.atEnd = this.isAtEnd(); });
    lockForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const password = lockInput.value;
      lockInput.value = "";
      lockForm.hidden = true;
      onPassword(password);
    });
  }

  addLine(line) {
    this.log.append(renderLine(line));
    while (this.log.childElementCount > MAX_LINES) this.log.firstElementChild.remove();
    if (this.atEnd && !this.panel.hidden) this.log.scrollTop = this.log.scrollHeight;
  }

  // Earlier lines above the log (the context of a resumed channel).
  prepend(lines) {
    this.log.prepend(...lines.map(renderLine));
    if (this.atEnd) this.scrollToEnd();
  }

  // While a join's history arrives the log is busy: not read out line by line.
  setBusy(busy) {
    if (busy) this.log.setAttribute("aria-busy", "true");
    else this.log.removeAttribute("aria-busy");
  }

  showLock(open) { this.lockForm.hidden = !open; }
  focusLock() { this.lockInput.focus(); }
  focusTab() { this.tab.focus(); }
  setProtected(on) { this.lock.hidden = !on; }

  select(on) {
    this.panel.hidden = !on;
    this.tab.setAttribute("aria-selected", on ? "true" : "false");
    this.tab.tabIndex = on ? 0 : -1;
  }

  renderUnread(unread, isProtected) {
    this.badge.hidden = unread === 0;
    this.badge.textContent = unread > 99 ? "99+" : String(unread);
    this.renderLabel(isProtected, unread);
  }

  // What a screen reader hears after the tab's name.
  renderLabel(isProtected, unread) {
    const parts = [];
    if (isProtected) parts.push("protected");
    if (unread) parts.push(`${unread} unread`);
    this.tabLabel.textContent = parts.length ? `, ${parts.join(", ")}` : "";
  }

  isAtEnd() { return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 48; }

  scrollToEnd() {
    this.atEnd = true;
    this.log.scrollTop = this.log.scrollHeight;
  }

  remove() {
    this.tab.remove();
    this.panel.remove();
  }
}
