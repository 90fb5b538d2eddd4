// The top bar: the connection state (a status region: screen readers hear each change
// of state, not the countdown), Reconnect now, Use it here, who you are, Change nickname.

export function createStatus(ui) {
  return {
    show(phase, text) {
      const changed = ui.status.dataset.state !== phase || ui.statusText.textContent !== text;
      ui.status.dataset.state = phase;
      if (changed) ui.statusText.textContent = text;
      ui.countdown.textContent = "";
      ui.reconnectNow.hidden = phase !== "waiting" && phase !== "offline";
    },
    countdown(text) { ui.countdown.textContent = text; },
    showUseHere(on) { ui.useHere.hidden = !on; },
    me(nickname) {
      ui.me.textContent = `You are ${nickname}`;
      ui.me.hidden = false;
    },
    signedIn(on) {
      ui.signOut.hidden = !on;
      if (!on) ui.me.hidden = true;
    },
  };
}
