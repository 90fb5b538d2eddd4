// The sign-in form (a nickname and a first channel) and the switch between it and the app.

import { channelInput, nicknameInput } from "../protocol.mjs";

export function createLogin(ui) {
  return {
    // What was typed, taken as the server takes names.
    read: () => ({ nickname: nicknameInput(ui.nickname.value), channel: channelInput(ui.firstChannel.value) }),
    error(text, field) {
      ui.loginError.textContent = text;
      if (field === "nickname") ui.nickname.focus();
      else if (field === "channel") ui.firstChannel.focus();
    },
    // A stored session being restored: the form stays hidden meanwhile.
    restoring(nickname) {
      ui.nickname.value = nickname;
      ui.login.hidden = true;
    },
    showApp() {
      ui.login.hidden = true;
      ui.app.hidden = false;
    },
    // Back to the form, with the reason and the nickname in its field to change.
    showLogin(message, nickname) {
      ui.app.hidden = true;
      ui.login.hidden = false;
      ui.loginError.textContent = message || "";
      ui.nickname.value = nickname;
      ui.nickname.focus();
    },
    focus() { ui.nickname.focus(); },
  };
}
