// The header of the channel on screen (name, lock, Members, Leave) and the member list
// beside it — on small screens an overlay (the rest of the page inert; Escape closes it).

import { el } from "./dom.mjs";

// The note shown instead of names, or "" when the names are listed. Pure.
export function membersNote(ch, parked) {
  if (ch.phase !== "joined") {
    return parked ? "Open in another tab." : ch.phase === "locked" ? "Enter the password to join."
      : ch.everJoined ? "Rejoining…" : "Joining…";
  }
  return ch.members ? "" : "This channel is too big to list everyone.";
}

export const sortedMembers = (members) =>
  [...members].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));

export function createHeader(ui, narrow) {
  let membersOpen = false;
  const header = {
    get membersOpen() { return membersOpen; },
    // ch: the channel on screen (or undefined); nickname: ours, marked "(you)".
    render(ch, { parked, nickname }) {
      ui.channelTitle.textContent = ch ? `#${ch.name}` : "No channel open";
      ui.channelLock.hidden = !(ch && ch.isProtected);
      ui.leave.hidden = !ch;
      ui.membersToggle.hidden = !ch;
      ui.composerLabel.textContent = ch ? `Message to #${ch.name}` : "Message";
      header.renderMembers(ch, { parked, nickname });
    },
    renderMembers(ch, { parked, nickname }) {
      const count = ch ? String(ch.count) : "0";
      ui.memberCount.textContent = count;
      ui.membersCount.textContent = count;
      ui.memberList.replaceChildren();
      ui.membersNote.hidden = true;
      if (!ch) return;
      const note = membersNote(ch, parked);
      if (note) {
        ui.membersNote.hidden = false;
        ui.membersNote.textContent = note;
        return;
      }
      for (const name of sortedMembers(ch.members)) {
        const li = el("li", { class: name === nickname ? "member me" : "member" }, name);
        if (name === nickname) li.append(el("span", { class: "you" }, " (you)"));
        ui.memberList.append(li);
      }
    },
    showMembers(open, moveFocus = true) {
      membersOpen = open;
      ui.members.classList.toggle("open", open);
      ui.membersToggle.setAttribute("aria-expanded", String(open));
      const modal = open && narrow.matches;
      ui.sidebar.inert = modal;
      ui.conversation.inert = modal;
      if (moveFocus) (open ? ui.membersClose : ui.membersToggle).focus();
    },
  };
  ui.membersToggle.addEventListener("click", () => header.showMembers(!membersOpen));
  ui.membersClose.addEventListener("click", () => header.showMembers(false));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && membersOpen) header.showMembers(false); });
  return header;
}
