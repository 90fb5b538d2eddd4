// The channel tabs in the side bar (the WAI-ARIA tabs pattern: one tab stop, arrow keys,
// Home/End) with the panels they control, and the unread total in the page title.

// The tab the key moves to, as an index into `names`, or -1 (not a key of the pattern).
// Pure: tested by node (Tests/web/view.test.mjs).
export function nextTab(names, active, key) {
  const i = names.indexOf(active);
  let next = -1;
  if (key === "ArrowDown" || key === "ArrowRight") next = (i + 1) % names.length;
  else if (key === "ArrowUp" || key === "ArrowLeft") next = (i - 1 + names.length) % names.length;
  else if (key === "Home") next = 0;
  else if (key === "End") next = names.length - 1;
  return names.length ? next : -1;
}

export const pageTitle = (unread) => (unread ? `(${unread}) Chat` : "Chat");

// onKey(key) → true when the key moved to another tab.
export function createTabs(ui, narrow, { onKey }) {
  ui.tabs.addEventListener("keydown", (e) => { if (onKey(e.key)) e.preventDefault(); });
  const orient = () => ui.tabs.setAttribute("aria-orientation", narrow.matches ? "horizontal" : "vertical");
  orient();
  return {
    orient,
    add(channelView) {
      ui.tabs.append(channelView.tab);
      ui.panels.append(channelView.panel);
    },
    title(unread) { document.title = pageTitle(unread); },
  };
}
