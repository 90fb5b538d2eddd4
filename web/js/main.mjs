// The chat-server web client: ES modules, no build step, no dependencies.
// Protocol: docs/PROTOCOL.md (the /ws endpoint); behaviour and module map:
// docs/WEB-CLIENT.md. This module only wires the page's parts together.

import { ERROR_TEXT, nicknameProblem, validChannel } from "./protocol.mjs";
import { livenessTuning } from "./net.mjs";
import { loadSession } from "./session/storage.mjs";
import { Client } from "./session/client.mjs";
import { $ } from "./view/dom.mjs";
import { ChannelView } from "./view/channel.mjs";
import { createComposer } from "./view/composer.mjs";
import { createHeader } from "./view/header.mjs";
import { createJoinForm } from "./view/joinform.mjs";
import { createLogin } from "./view/login.mjs";
import { createStatus } from "./view/status.mjs";
import { createTabs, nextTab } from "./view/tabs.mjs";

const ui = {
  status: $("status"), statusText: $("status-text"), countdown: $("status-countdown"),
  reconnectNow: $("reconnect-now"), useHere: $("use-here"), me: $("me"), signOut: $("sign-out"),
  login: $("login"), loginForm: $("login-form"), nickname: $("nickname"), firstChannel: $("first-channel"),
  loginError: $("login-error"),
  app: $("app"), sidebar: document.querySelector(".sidebar"), conversation: document.querySelector(".conversation"),
  tabs: $("tabs"), joinToggle: $("join-toggle"), joinForm: $("join-form"), joinChannel: $("join-channel"),
  joinPassword: $("join-password"), joinPasswordBox: $("join-password-box"), joinError: $("join-error"),
  channelTitle: $("channel-title"), channelLock: $("channel-lock"), membersToggle: $("members-toggle"),
  memberCount: $("member-count"), leave: $("leave"), panels: $("panels"),
  composer: $("composer"), composerInput: $("composer-input"), composerLabel: $("composer-label"),
  composerHint: $("composer-hint"),
  members: $("members"), membersClose: $("members-close"), membersCount: $("members-count"),
  memberList: $("member-list"), membersNote: $("members-note"),
};
const narrow = window.matchMedia("(max-width: 760px)");
const search = new URLSearchParams(location.search);
// How long a starting tab listens for another tab of this browser holding the session.
const tabWaitMs = 1000 * (Number(search.get("tabwait")) || 0.2);
const bus = "BroadcastChannel" in window ? new BroadcastChannel("chat-server") : null;

let client = null;
const view = {
  status: createStatus(ui),
  login: createLogin(ui),
  joinForm: createJoinForm(ui, narrow),
  header: createHeader(ui, narrow),
  composer: createComposer(ui, { keepEndInView: () => client.keepEndInView(), onSubmit: () => client.submitMessage() }),
  tabs: createTabs(ui, narrow, {
    onKey(key) {
      const names = [...client.channels.keys()];
      const next = nextTab(names, client.active, key);
      if (next < 0) return false;
      client.activate(names[next], true);
      return true;
    },
  }),
  channel: (name, handlers) => new ChannelView(name, handlers),
};
client = new Client(view, {
  WebSocket, location, storage: localStorage, bus, fetch: (url) => fetch(url),
  pageId: Math.random().toString(36).slice(2),
  online: () => navigator.onLine !== false,
  visible: () => document.visibilityState === "visible",
  reload: () => location.reload(),
  tabWaitMs, ...livenessTuning(location.search),
});
setInterval(() => client.checkAlive(), 1000);

// ---- Forms and buttons.
ui.loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const { nickname, channel } = view.login.read();
  const problem = nicknameProblem(nickname);
  if (problem) return view.login.error(problem, "nickname");
  if (!validChannel(channel)) return view.login.error(ERROR_TEXT.invalid_channel(), "channel");
  view.login.error("");
  client.signIn(nickname, [{ name: channel, atSignIn: true }], channel);
});

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const { name, password } = view.joinForm.read();
  const problem = !name ? "Type the name of a channel." : !validChannel(name) ? ERROR_TEXT.invalid_channel() : "";
  if (problem) {
    view.joinForm.showError(problem);
    view.joinForm.focus();
    return;
  }
  view.joinForm.showError("");
  view.joinForm.clear();
  client.joinTyped(name, password);
  if (narrow.matches) view.joinForm.fold(false);
  view.composer.focus();
});

ui.leave.addEventListener("click", () => {
  client.leave();
  (client.active ? view.composer : view.joinForm).focus();
});
ui.signOut.addEventListener("click", () => client.signOut(""));
ui.reconnectNow.addEventListener("click", () => client.reconnectNow());
ui.useHere.addEventListener("click", () => client.takeOver());

narrow.addEventListener("change", () => {
  view.tabs.orient();
  if (!narrow.matches) {
    view.header.showMembers(false, false);
    view.joinForm.fold(true);
  } else {
    view.joinForm.fold(false);
  }
});

// ---- The page's life: network, visibility, the back/forward cache.
window.addEventListener("online", () => client.wake());
window.addEventListener("offline", () => client.wentOffline());
window.addEventListener("pageshow", (e) => { if (e.persisted) client.cameBack(); });
window.addEventListener("pagehide", () => client.save());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return client.save();
  client.seen();
  client.wake();
});
window.addEventListener("resize", () => client.keepEndInView());

// A returning visitor continues where they were: same nickname, same channels, each
// resumed after the last event this browser showed.
// (If another tab of this browser already has this session, this one waits.)
const saved = loadSession(localStorage);
if (saved && saved.nickname && saved.channels.length) {
  view.login.restoring(saved.nickname);
  client.tabLock.announce("hello");
  setTimeout(() => {
    const channels = saved.channels.map((c) => ({ ...c, restored: true }));
    client.signIn(saved.nickname, channels, saved.active, client.tabLock.heardOther);
    client.renderHeader();
  }, bus ? tabWaitMs : 0);
} else {
  view.login.focus();
}
client.renderHeader();

// For tests and the curious: a read-only view of the connection.
window.chatClient = Object.freeze({
  get phase() { return client.phase; },
  get parked() { return client.parked; },
  get nickname() { return client.nickname; },
  lastId: (name) => (client.channels.get(name) || {}).lastId || "",
  channelPhase: (name) => (client.channels.get(name) || {}).phase || "",
});
