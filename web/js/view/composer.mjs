// The message box: Enter sends (Shift+Enter: a new line), it grows with the text, and
// the hint under it says why a message cannot go.

export const HINT_OFFLINE = "Not connected: messages cannot be sent until the connection is back.";
export const HINT_NO_CHANNEL = "Join a channel to write.";
export const HINT_PARKED = "This chat is in use in another tab: choose “Use it here” to write here.";

// The hint for the state of the page, "" to clear one of these hints, or null to leave
// the hint as it is. Pure. `ch`: the channel on screen ({name, phase}) or undefined.
export function composerHint({ parked, open, ch }, current) {
  const ready = open && ch && (ch.phase === "joined" || ch.phase === "joining");
  if (parked) return HINT_PARKED;
  if (!open) return HINT_OFFLINE;
  if (!ch) return HINT_NO_CHANNEL;
  if (!ready) return ch.phase === "locked" ? `#${ch.name} needs its password first.` : `Rejoining #${ch.name}…`;
  const stale = [HINT_OFFLINE, HINT_NO_CHANNEL, HINT_PARKED].includes(current)
    || /^(Rejoining #|#.* needs its password)/.test(current);
  if (stale) return "";
  return null;
}

// keepEndInView(): the log above got shorter, keep its newest lines in view.
// onSubmit(): Enter or Send.
export function createComposer(ui, { keepEndInView, onSubmit }) {
  const box = ui.composerInput;
  const composer = {
    get value() { return box.value; },
    set value(text) { box.value = text; },
    focus() { box.focus(); },
    // Someone is typing here right now.
    writing: () => document.activeElement === box && box.value !== "",
    get hint() { return ui.composerHint.textContent; },
    setHint(text) {
      if (ui.composerHint.textContent === text) return;
      ui.composerHint.textContent = text;
      keepEndInView();
    },
    update(state) {
      const ready = state.open && state.ch && (state.ch.phase === "joined" || state.ch.phase === "joining");
      box.setAttribute("aria-disabled", ready ? "false" : "true");
      const hint = composerHint(state, ui.composerHint.textContent);
      if (hint !== null) composer.setHint(hint);
    },
    autoGrow() {
      const max = parseFloat(getComputedStyle(box).maxHeight) || 160;
      box.style.height = "auto";
      box.style.height = `${Math.min(box.scrollHeight + 2, max)}px`;
      box.style.overflowY = box.scrollHeight + 2 > max ? "auto" : "hidden";
      keepEndInView();
    },
  };
  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    onSubmit();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    onSubmit();
  });
  box.addEventListener("input", () => composer.autoGrow());
  return composer;
}
