// The join form in the side bar (a channel name and an optional password); below 760 px
// it folds behind a button.

import { channelInput } from "../protocol.mjs";

export function createJoinForm(ui, narrow) {
  const form = {
    read: () => ({ name: channelInput(ui.joinChannel.value), password: ui.joinPassword.value }),
    clear() {
      ui.joinChannel.value = "";
      ui.joinPassword.value = "";
      ui.joinPasswordBox.open = false;
    },
    showError(text) {
      ui.joinError.textContent = text;
      if (text && narrow.matches) form.fold(true);
    },
    fold(open) {
      ui.joinForm.classList.toggle("folded", !open);
      ui.joinToggle.setAttribute("aria-expanded", String(open));
    },
    focus() { ui.joinChannel.focus(); },
  };
  ui.joinToggle.addEventListener("click", () => {
    const open = ui.joinForm.classList.contains("folded");
    form.fold(open);
    if (open) ui.joinChannel.focus();
  });
  form.fold(!narrow.matches);
  return form;
}
