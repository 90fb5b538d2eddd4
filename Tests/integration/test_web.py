"""The web client (web/) in a real browser: Debian's chromium + chromedriver, driven by
selenium, against real chat-servers and a real redis-server. Two browser windows are two
users. Driven by the keyboard wherever a person could be. Screenshots of the run go to
build/web-test/ (not committed)."""
import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from websockets.sync.client import connect as ws_connect

from harness import ROOT, ChatServer, RedisServer, unique, wait_until

WEB_ROOT = ROOT / "web"
SHOTS = ROOT / "build" / "web-test"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def fetch(port, path, method="GET", headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture(scope="module")
def web():
    """One redis-server and a chat-server serving web/ (restartable on its port)."""
    redis = RedisServer()
    server = ChatServer(redis, "web-a", env={"WEB_ROOT": str(WEB_ROOT)})
    state = {"redis": redis, "server": server}
    yield state
    state["server"].stop()
    redis.stop()


@pytest.fixture(scope="module")
def shots():
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


class User:
    """A chat user outside the browser (websockets' synchronous client)."""

    def __init__(self, server, nickname):
        self.ws = ws_connect(f"{server.url}/ws?nickname={nickname}", open_timeout=10, legacy=True)
        self.expect("welcome")

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def expect(self, type_, timeout=10.0, **fields):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_} event within {timeout} s")
            event = json.loads(self.ws.recv(timeout=left))
            if event.get("type") == type_ and all(event.get(k) == v for k, v in fields.items()):
                return event

    def join(self, channel, **extra):
        self.send({"op": "join", "channel": channel, **extra})
        return self.expect("joined", channel=channel)

    def close(self):
        self.ws.close()


def once_each(texts, needles, matches):
    """The needles not found exactly once among `texts`, with their counts."""
    counts = [(n, sum(1 for t in texts if matches(t, n))) for n in needles]
    return [(n, c) for n, c in counts if c != 1]


def erin_sees_nothing(user):
    """True when no message reaches `user` within half a second."""
    try:
        event = user.expect("message", timeout=0.5)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message: {event}")


class Page:
    """One browser window (its own profile, so its own localStorage): one user."""

    def __init__(self, url, width=1100, height=720):
        assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
            "chromium and chromium-driver are needed (scripts/deps.sh --test installs them)"
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={width},{height}", "--lang=en-US", "--no-first-run"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_window_size(width, height)
        self.driver.get(url)

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, predicate, what, timeout=20.0, detail=None):
        def check():
            try:
                return predicate()
            except (WebDriverException, TypeError):  # the page is (re)loading
                return False
        try:
            wait_until(check, timeout=timeout, interval=0.1, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}: {detail()}") if detail else e

    def active(self):
        return self.driver.switch_to.active_element

    def keys(self, *keys):
        self.active().send_keys(*keys)

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def phase(self):
        return self.by_id("status").get_attribute("data-state")

    def log_texts(self, channel=None):
        """The text of each line of a channel's log (the visible one by default)."""
        return self.js("""
            const ch = arguments[0];
            const panel = ch ? document.getElementById('panel-' + encodeURIComponent(ch))
                             : [...document.querySelectorAll('.panel')].find(p => !p.hidden);
            return panel ? [...panel.querySelectorAll('.line')].map(li => li.textContent) : [];
        """, channel)

    def members(self):
        # Read in one step: the list is re-rendered as events arrive.
        return self.js("return [...document.querySelectorAll('#member-list li')].map(li => li.firstChild.textContent)")

    def member_count(self):
        return self.by_id("members-count").text

    def tab(self, channel):
        return self.driver.find_element(By.ID, "tab-" + channel)

    def badge(self, channel):
        return self.js("const b = document.querySelector('#tab-' + arguments[0] + ' .badge'); return b.hidden ? '' : b.textContent;", channel)

    def shot(self, name):
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))

    def sign_in(self, nickname, channel):
        """Keyboard only: the nickname field has focus on load."""
        self.wait(lambda: self.active().get_attribute("id") == "nickname", "focus on the nickname field")
        self.keys(nickname, Keys.TAB)
        assert self.active().get_attribute("id") == "first-channel"
        self.keys(Keys.CONTROL, "a")
        self.keys(channel, Keys.ENTER)
        self.wait(lambda: self.phase() == "open", f"{nickname} connected")
        self.wait(lambda: nickname in self.members(), f"{nickname} in the member list of {channel}")

    def say(self, text):
        box = self.by_id("composer-input")
        if self.active() != box:
            box.click()
        box.send_keys(text, Keys.ENTER)

    def join(self, channel, password=None):
        field = self.by_id("join-channel")
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(channel)
        if password is not None:
            self.by_id("join-password-box").click()
            self.by_id("join-password").send_keys(password)
        field.send_keys(Keys.ENTER)


def test_web_files_are_served_with_types_and_caching(web):
    port = web["server"].port
    status, headers, body = fetch(port, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache" and re.fullmatch(r'"[0-9a-f]{16}-[0-9a-f]+"', headers["ETag"])
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert body == (WEB_ROOT / "index.html").read_bytes()
    for path, kind in [("/js/main.mjs", "text/javascript; charset=utf-8"), ("/js/session/client.mjs", "text/javascript; charset=utf-8"),
                       ("/app.css", "text/css; charset=utf-8"),
                       ("/favicon.svg", "image/svg+xml"), ("/index.html", "text/html; charset=utf-8")]:
        status, headers, body = fetch(port, path)
        assert (status, headers["Content-Type"]) == (200, kind), path
        assert body == (WEB_ROOT / path.lstrip("/")).read_bytes()
        # Revalidation: the same ETag (also in a list, or weak) gives 304 without a body.
        status, again, body = fetch(port, path, headers={"If-None-Match": f'"nope", W/{headers["ETag"]}'})
        assert (status, body, again["ETag"]) == (304, b"", headers["ETag"]), path
        status, _, _ = fetch(port, path, headers={"If-None-Match": '"other"'})
        assert status == 200
    status, headers, body = fetch(port, "/js/main.mjs", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == (WEB_ROOT / "js" / "main.mjs").stat().st_size
    assert fetch(port, "/js/main.mjs", method="POST")[0] == 405
    assert fetch(port, "/nope.js")[0] == 404
    assert fetch(port, "/../Makefile")[0] in (400, 404)
    # Offline: nothing is loaded from anywhere else; text goes into the page as text only.
    files = [f for f in WEB_ROOT.rglob("*") if f.is_file()]
    for f in files:
        text = f.read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f"{f.name} loads from another origin"
        assert not re.search(r"""\bfrom\s+["'](https?:)?//|import\(\s*["'](https?:)?//""", text), f"{f.name} imports from another origin"
    # The page loads one module; every module it imports (relatively) is there and served,
    # every module is reached from it, and each is preloaded (no import waterfall).
    page = (WEB_ROOT / "index.html").read_text()
    assert '<script type="module" src="/js/main.mjs"></script>' in page
    modules = [f for f in files if f.suffix == ".mjs"]
    reached, todo = set(), [WEB_ROOT / "js" / "main.mjs"]
    while todo:
        f = todo.pop()
        for target in re.findall(r"""^import [^;]*? from "(\.{1,2}/[^"]+)";""", f.read_text(), re.M | re.S):
            imported = (f.parent / target).resolve()
            assert imported.is_file(), f"{f.name} imports {target}, which is missing"
            path = "/" + imported.relative_to(WEB_ROOT.resolve()).as_posix()
            if path not in reached:
                reached.add(path)
                todo.append(imported)
    assert {"/" + f.relative_to(WEB_ROOT).as_posix() for f in modules} - reached == {"/js/main.mjs"}, "a module nothing imports"
    assert set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page)) == reached
    for path in reached:
        status, headers, _ = fetch(port, path)
        assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8"), path
    # A sentence for every error code the protocol lists.
    protocol = (ROOT / "docs" / "PROTOCOL.md").read_text()
    codes = set(re.findall(r"^\| `([a-z_]+)` \| ", protocol.split("### `error`")[1].split("##")[0], re.M))
    sentences = (WEB_ROOT / "js" / "protocol.mjs").read_text()
    assert len(codes) >= 16 and {c for c in codes if not re.search(rf"^\s+{c}: ", sentences, re.M)} == set()
    script = "\n".join(f.read_text() for f in files if f.suffix in (".js", ".mjs", ".html"))
    assert len(modules) >= 10 and "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


def test_web_without_a_web_root_says_where_to_connect(web):
    server = ChatServer(web["redis"], "web-none", env={"WEB_ROOT": str(ROOT / "build" / "no-such-folder")})
    try:
        status, headers, body = fetch(server.port, "/")
        assert status == 200 and b"/ws?nickname=" in body
        assert fetch(server.port, "/js/main.mjs")[0] == 404
        # One line that says so, not a "loaded" line with no files.
        log = server.log()
        assert "no web client served: folder " in log and " is missing or unreadable" in log
        assert "web client loaded" not in log
    finally:
        server.stop()


def test_web_files_reload_on_sighup(web, tmp_path):
    root = tmp_path / "site"
    shutil.copytree(WEB_ROOT, root)
    (root / ".hidden.js").write_text("secret")
    (root / "notes.md").write_text("not a served type")
    server = ChatServer(web["redis"], "web-hup", env={"WEB_ROOT": str(root)})
    try:
        _, headers, _ = fetch(server.port, "/app.css")
        assert fetch(server.port, "/.hidden.js")[0] == 404 and fetch(server.port, "/notes.md")[0] == 404
        (root / "app.css").write_text("body { color: red }\n")
        (root / "extra").mkdir()
        (root / "extra" / "page.html").write_text("<p>new</p>")
        server.signal(signal.SIGHUP)
        wait_until(lambda: fetch(server.port, "/app.css")[2] == b"body { color: red }\n", what="reloaded file")
        status, again, _ = fetch(server.port, "/app.css", headers={"If-None-Match": headers["ETag"]})
        assert status == 200 and again["ETag"] != headers["ETag"]
        assert fetch(server.port, "/extra/page.html")[2] == b"<p>new</p>"
        assert server.health()[0] == 200
    finally:
        server.stop()


def test_web_two_users_chat_in_a_real_browser(web, shots):
    redis, server = web["redis"], web["server"]
    url = f"http://127.0.0.1:{server.port}/"
    # This module has a redis-server of its own, so the names can be plain (for the screenshots).
    lobby, side = "general", "random"
    alice = Page(url)
    bob = Page(url)
    try:
        # Labels for every field.
        unlabelled = alice.js("""return [...document.querySelectorAll('input, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id);""")
        assert unlabelled == []
        alice.shot("01-sign-in")

        alice.sign_in("alice", lobby)
        bob.sign_in("bob", lobby)
        # Both see both, with the count, live.
        alice.wait(lambda: alice.members() == ["alice", "bob"] and alice.member_count() == "2", "alice sees bob join")
        bob.wait(lambda: bob.members() == ["alice", "bob"] and bob.member_count() == "2", "bob sees both")
        assert any("bob joined the chat." in t for t in alice.log_texts())

        # Enter sends; the other window shows it.
        alice.say("hello bob")
        bob.wait(lambda: any("alice" in t and "hello bob" in t for t in bob.log_texts()), "bob receives hello")

        # Message text is text: markup arrives as the characters typed, nothing runs.
        hostile = '<img src=x onerror="window.__xss=1"><b>bold</b>'
        bob.say(hostile)
        alice.wait(lambda: any(hostile in t for t in alice.log_texts()), "alice sees the markup as text")
        assert alice.js("return document.querySelectorAll('#panels img, #panels b').length") == 0
        assert alice.js("return window.__xss === undefined")
        alice.shot("02-conversation")

        # A second channel (a tab); a message in the background tab raises its unread badge.
        alice.join(side)
        alice.wait(lambda: alice.tab(side).get_attribute("aria-selected") == "true" and alice.members() == ["alice"],
                   "alice in the side channel")
        bob.say("are you there?")
        alice.wait(lambda: alice.badge(lobby) == "1", "unread badge on the lobby tab")
        assert "(1)" in alice.driver.title
        alice.shot("03-unread-badge")
        # Keyboard: the tabs are one stop; arrows move between channels and open them.
        alice.tab(side).send_keys(Keys.ARROW_UP)
        alice.wait(lambda: alice.tab(lobby).get_attribute("aria-selected") == "true", "arrow key opens the lobby")
        assert alice.badge(lobby) == "" and alice.active().get_attribute("id") == f"tab-{lobby}"
        assert any("are you there?" in t for t in alice.log_texts())

        # Counts follow people arriving and leaving on any instance.
        carol = User(server, "carol")
        carol.join(lobby)
        alice.wait(lambda: alice.member_count() == "3" and "carol" in alice.members(), "carol counted")
        carol.close()
        alice.wait(lambda: alice.member_count() == "2" and "carol" not in alice.members(), "carol gone")
        bob.wait(lambda: bob.member_count() == "2", "bob sees carol leave")

        # Server errors read as sentences: a taken nickname, then a password.
        taken, secret = "design", "staff"

        holder, owner = User(server, "alice"), User(server, "erin")
        holder.join(taken)
        owner.join(secret, password="open sesame")
        try:
            alice.join(taken)
            alice.wait(lambda: "already goes by" in alice.by_id("join-error").text, "nickname_taken explained")
            assert alice.driver.find_elements(By.ID, f"tab-{taken}") == []
            # A protected channel: the tab stays, with a password field that has the focus.
            alice.join(secret)
            alice.wait(lambda: any("is protected" in t for t in alice.log_texts(secret)), "wrong_password explained")
            alice.wait(lambda: alice.active().get_attribute("id") == f"lock-{secret}", "focus in the password field")
            alice.shot("04-password")
            # A wrong guess; what she writes while it is checked is not lost: it comes back.
            # (One call: the keys follow each other without a gap. The refusal may land before
            # the message is sent — given back — or while it is typed: it stays in the box.)
            alice.keys("a wrong guess", Keys.ENTER, "written while joining", Keys.ENTER)
            alice.wait(lambda: alice.js("return chatClient.channelPhase(arguments[0])", secret) == "locked"
                       and sum("is protected" in t for t in alice.log_texts(secret)) == 2, "the wrong guess refused")
            assert alice.by_id("composer-input").get_attribute("value") == "written while joining"
            # A refusal that lands while she is writing leaves the focus where she types
            # (her next keys must not go into the password field). Deterministic: the guess
            # is submitted and the composer has text before the page can hear the answer.
            alice.js("""const lock = document.getElementById(arguments[0]);
                lock.value = "another guess"; lock.form.requestSubmit();
                document.getElementById("composer-input").focus();""", f"lock-{secret}")
            alice.wait(lambda: alice.js("return chatClient.channelPhase(arguments[0])", secret) == "locked"
                       and sum("is protected" in t for t in alice.log_texts(secret)) == 3, "the second guess refused")
            assert alice.active().get_attribute("id") == "composer-input"
            assert alice.by_id("composer-input").get_attribute("value") == "written while joining"
            assert erin_sees_nothing(owner)
            lock = alice.driver.find_element(By.ID, f"lock-{secret}")
            lock.send_keys("open sesame", Keys.ENTER)
            alice.wait(lambda: alice.tab(secret).get_attribute("aria-selected") == "true" and "alice" in alice.members(),
                       "joined the protected channel")
            alice.by_id("composer-input").clear()
            assert alice.by_id("channel-lock").is_displayed()
            assert not alice.driver.find_element(By.CSS_SELECTOR, f"#panel-{secret} .lock-form").is_displayed()
        finally:
            holder.close()
            owner.close()
        alice.by_id("leave").click()
        alice.wait(lambda: alice.driver.find_elements(By.ID, f"tab-{secret}") == [], "left the protected channel")
        alice.tab(lobby).click()

        # The server restarts; meanwhile someone writes through another instance. Both
        # pages reconnect by themselves and resume from their last id: everything once.
        before = alice.log_texts(lobby)
        server.stop()
        alice.wait(lambda: alice.phase() == "waiting", "alice sees the connection drop")
        bob.wait(lambda: bob.phase() == "waiting", "bob sees the connection drop")
        assert "Reconnecting" in alice.by_id("status-text").text
        alice.shot("05-reconnecting")
        other = ChatServer(redis, "web-b")
        try:
            dave = User(other, "dave")
            dave.join(lobby)
            for i in range(1, 4):
                dave.send({"op": "send", "channel": lobby, "message": f"while you were away {i}"})
            for i in range(1, 4):
                dave.expect("message", message=f"while you were away {i}")
            web["server"] = server = ChatServer(redis, "web-a", env={"WEB_ROOT": str(WEB_ROOT)}, port=server.port)
            alice.wait(lambda: alice.phase() == "open", "alice reconnected", timeout=45)
            bob.wait(lambda: bob.phase() == "open", "bob reconnected", timeout=45)
            alice.wait(lambda: all(any(f"while you were away {i}" in t for t in alice.log_texts(lobby)) for i in range(1, 4)),
                       "the missed messages replayed")
            alice.wait(lambda: alice.members() == ["alice", "bob", "dave"], "members after the restart")
            alice.say("after the restart")
            bob.wait(lambda: any("after the restart" in t for t in bob.log_texts(lobby)), "conversation continues")
            needles = ["hello bob", hostile, "are you there?", "while you were away 1", "while you were away 2",
                       "while you were away 3", "after the restart"]
            # Her own message comes back to her too; then every line is there exactly once.
            alice.wait(lambda: once_each(alice.log_texts(lobby), needles, lambda t, n: n in t) == [],
                       "every message exactly once", detail=lambda: once_each(alice.log_texts(lobby), needles, lambda t, n: n in t))
            assert alice.log_texts(lobby)[:len(before)] == before, "the log before the restart is kept as it was"
            alice.shot("06-after-restart")
            dave.close()
        finally:
            other.stop()

        # A phone-sized window: one column, nothing wider than the screen, members on demand.
        alice.driver.set_window_size(390, 844)
        alice.wait(lambda: alice.js("return document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling")
        assert alice.by_id("composer-input").is_displayed() and alice.tab(lobby).is_displayed()
        assert not alice.by_id("members").is_displayed()
        alice.shot("07-phone")
        alice.by_id("members-toggle").send_keys(Keys.ENTER)
        alice.wait(lambda: alice.by_id("members").is_displayed(), "member list opens on a phone")
        assert alice.active().get_attribute("id") == "members-close"
        alice.keys(Keys.ESCAPE)
        alice.wait(lambda: not alice.by_id("members").is_displayed(), "member list closes with Escape")
        alice.driver.set_window_size(1100, 720)

        # Coming back later (a closed tab, a reload): same nickname and channels; each
        # channel resumes after the last event shown, with what came before as context.
        url_back = alice.driver.current_url
        old_tab = alice.driver.current_window_handle
        alice.driver.switch_to.new_window("tab")
        new_tab = alice.driver.current_window_handle
        alice.driver.switch_to.window(old_tab)
        alice.driver.close()
        alice.driver.switch_to.window(new_tab)
        bob.wait(lambda: bob.members() == ["bob"], "alice gone while her tab is closed")
        erin = User(server, "erin")
        erin.join(lobby)
        for i in range(60):  # within the default rate limit (20 a second)
            erin.send({"op": "send", "channel": lobby, "message": f"missed {i}"})
            time.sleep(0.06)
        erin.expect("message", message="missed 59")
        erin.close()
        alice.driver.get(url_back)
        alice.wait(lambda: alice.phase() == "open", "alice back")
        alice.wait(lambda: any("missed 59" in t for t in alice.log_texts(lobby)), "everything missed is shown")
        # (The earlier context comes by HTTP and may land after the replay: wait for it.)
        needles = [f"missed {i}" for i in range(60)] + ["after the restart"]
        alice.wait(lambda: once_each(alice.log_texts(lobby), needles, str.endswith) == [], "each missed message exactly once",
                   detail=lambda: once_each(alice.log_texts(lobby), needles, str.endswith))
        assert alice.driver.find_elements(By.ID, f"tab-{side}") and alice.tab(lobby).get_attribute("aria-selected") == "true"
        alice.wait(lambda: alice.members() == ["alice", "bob"], "members after coming back")
        # What came while away in the open tab is not "unread"; history is never unread.
        assert alice.badge(side) == "" and "(" not in alice.driver.title
        alice.shot("08-desktop")
        errors = [e for e in alice.driver.get_log("browser") if e["level"] == "SEVERE" and "WebSocket" not in e["message"]
                  and "favicon" not in e["message"]]
        assert errors == [], errors
    except Exception:
        for name, page in (("alice", alice), ("bob", bob)):
            try:
                page.shot(f"failure-{name}")
            except WebDriverException:
                pass
        raise
    finally:
        alice.quit()
        bob.quit()


def test_web_big_channel_members_stay_right(web, shots):
    """Over PRESENCE_NOTICE_LIMIT joins and leaves are quiet (count updates without
    names): the page asks for the member list and keeps it right."""
    server = ChatServer(web["redis"], "web-big", env={"WEB_ROOT": str(WEB_ROOT), "PRESENCE_NOTICE_LIMIT": "1"})
    page = Page(f"http://127.0.0.1:{server.port}/")
    users = []
    try:
        page.sign_in("zoe", "big")
        for name in ("yan", "xia"):
            u = User(server, name)
            u.join("big")
            users.append(u)
        page.wait(lambda: page.members() == ["xia", "yan", "zoe"] and page.member_count() == "3", "quiet joins listed")
        users.pop(0).close()
        page.wait(lambda: page.members() == ["xia", "zoe"] and page.member_count() == "2", "quiet leave listed")
        # One leaves and one arrives at once: the count stays 2, the list must change.
        users.pop(0).close()
        u = User(server, "wes")
        u.join("big")
        users.append(u)
        page.wait(lambda: page.members() == ["wes", "zoe"], "churn with an unchanged count listed")
    finally:
        for u in users:
            u.close()
        page.quit()
        server.stop()


def test_web_refused_message_comes_back_into_the_box(web, shots):
    server = ChatServer(web["redis"], "web-slow", env={"WEB_ROOT": str(WEB_ROOT), "RATE_LIMIT": "0.01", "RATE_BURST": "2"})
    page = Page(f"http://127.0.0.1:{server.port}/")
    try:
        page.sign_in("walt", "slow")  # the join takes one of the two
        page.say("first")
        page.wait(lambda: any(t.endswith("first") for t in page.log_texts()), "first message")
        page.say("second, too fast")
        page.wait(lambda: "too fast" in page.by_id("composer-hint").text, "rate_limited explained")
        assert page.by_id("composer-input").get_attribute("value") == "second, too fast"
        assert not any(t.endswith("second, too fast") and "walt" in t for t in page.log_texts())
        # Signing out forgets everything of this user: the next one starts empty.
        page.by_id("composer-input").clear()
        page.by_id("sign-out").send_keys(Keys.ENTER)
        page.wait(lambda: page.by_id("login").is_displayed(), "signed out")
        page.keys(Keys.CONTROL, "a")
        page.keys("wanda", Keys.ENTER)
        page.wait(lambda: page.phase() == "open" and "wanda" in page.members(), "wanda signed in")
        assert page.by_id("composer-input").get_attribute("value") == ""
    finally:
        page.quit()
        server.stop()


def test_web_notices_a_frozen_server_by_itself(web, shots):
    """A server that stops answering (SIGSTOP: the TCP connection stays up) is found by
    the page's own ping (shortened here with ?ping=1&pong=2) and replaced by a new
    connection once it answers again."""
    server = ChatServer(web["redis"], "web-freeze", env={"WEB_ROOT": str(WEB_ROOT)})
    page = Page(f"http://127.0.0.1:{server.port}/?ping=1&pong=2")
    try:
        page.sign_in("vic", "frozen")
        server.signal(signal.SIGSTOP)
        try:
            page.wait(lambda: page.phase() in ("waiting", "connecting"), "the frozen server noticed", timeout=15)
        finally:
            server.signal(signal.SIGCONT)
        page.wait(lambda: page.phase() == "open" and page.members() == ["vic"], "back after the freeze", timeout=60)
        page.say("still here")
        page.wait(lambda: any(t.endswith("still here") for t in page.log_texts()), "chatting again")
        page.shot("10-after-freeze")
    finally:
        page.quit()
        server.stop()


def test_web_one_connected_tab_per_browser(web, shots):
    """A second tab of the same browser (same stored session) does not fight the first
    over the nickname: it waits and offers to take over."""
    page = Page(f"http://127.0.0.1:{web['server'].port}/")
    try:
        page.sign_in("uma", "tabs")
        first = page.driver.current_window_handle
        page.driver.switch_to.new_window("tab")
        # (?tabwait=2: the background first tab gets 2 s instead of 0.2 s to answer, for slow machines.)
        page.driver.get(f"http://127.0.0.1:{web['server'].port}/?tabwait=2")
        page.wait(lambda: page.js("return window.chatClient && chatClient.parked") is True, "the second tab waits")
        assert "open in another tab" in page.by_id("status-text").text and page.by_id("use-here").is_displayed()
        page.shot("11-second-tab")
        second = page.driver.current_window_handle
        # Meanwhile the first tab joins another channel: taking over brings it along.
        page.driver.switch_to.window(first)
        page.join("more")
        page.wait(lambda: page.members() == ["uma"] and page.tab("more").get_attribute("aria-selected") == "true", "joined more")
        page.driver.switch_to.window(second)
        page.by_id("use-here").send_keys(Keys.ENTER)
        page.wait(lambda: page.js("return !!window.chatClient && !chatClient.parked") and page.phase() == "open", "the second tab took over")
        page.wait(lambda: page.driver.find_elements(By.ID, "tab-more") and page.members() == ["uma"], "with the channel joined in the first tab")
        page.driver.switch_to.window(first)
        page.wait(lambda: "moved to another tab" in page.by_id("status-text").text, "the first tab let go")
        assert page.js("return chatClient.parked") is True
    finally:
        page.quit()


def test_web_nickname_taken_at_sign_in_returns_to_the_form(web, shots):
    """A nickname already used (by another browser session) in the channel picked at
    sign-in is refused at once (not taken for this page's own earlier connection) and
    brings back the sign-in form with the reason, as a reserved name does — not an empty
    app asking for another nickname without a field for it. Another nickname then gets in."""
    url = f"http://127.0.0.1:{web['server'].port}/"
    first = Page(url)
    second = None
    try:
        first.sign_in("olga", "first")
        second = Page(url)
        second.wait(lambda: second.active().get_attribute("id") == "nickname", "focus on the nickname field")
        second.keys("olga", Keys.TAB, Keys.CONTROL, "a")
        second.keys("first", Keys.ENTER)
        second.wait(lambda: "already goes by" in second.by_id("login-error").text, "nickname_taken on the sign-in form",
                    timeout=8, detail=lambda: f"join error: {second.by_id('join-error').text!r}")
        assert second.by_id("login").is_displayed() and not second.by_id("app").is_displayed()
        assert second.phase() == "idle" and second.driver.find_elements(By.ID, "tab-first") == []
        assert second.active().get_attribute("id") == "nickname"
        assert (second.by_id("nickname").get_attribute("value"), second.by_id("first-channel").get_attribute("value")) == ("olga", "first")
        second.shot("09-nickname-taken-at-sign-in")
        # Another nickname, from the same form, gets in; the first session was not disturbed.
        second.keys(Keys.CONTROL, "a")
        second.keys("olga2", Keys.ENTER)
        second.wait(lambda: second.phase() == "open" and "olga2" in second.members(), "signed in with another nickname")
        first.wait(lambda: first.members() == ["olga", "olga2"], "the first session sees the second arrive")
        assert first.phase() == "open"
    finally:
        first.quit()
        if second:
            second.quit()


def test_web_rejected_nickname_returns_to_the_form(web, shots):
    page = Page(f"http://127.0.0.1:{web['server'].port}/")
    try:
        page.wait(lambda: page.active().get_attribute("id") == "nickname", "focus on the nickname field")
        page.keys("System", Keys.ENTER)
        page.wait(lambda: "cannot be used" in page.by_id("login-error").text, "invalid_nickname explained")
        assert page.by_id("login").is_displayed() and not page.by_id("app").is_displayed()
        assert page.phase() == "idle" and page.active().get_attribute("id") == "nickname"
        page.shot("09-invalid-nickname")
    finally:
        page.quit()


def test_web_accents_right_to_left_broken_emoji_and_phone_layout(web, shots):
    """A channel typed with a separate accent joins (the server answers in NFC); right-to-left
    lines are laid out by their own direction; a broken emoji half does not lose the
    message; on a phone many tabs do not widen the page and your own name is listed."""
    import unicodedata
    server = ChatServer(web["redis"], "web-edge", env={"WEB_ROOT": str(WEB_ROOT), "RATE_LIMIT": "0"})
    page = Page(f"http://127.0.0.1:{server.port}/")
    try:
        page.sign_in("zoe", "lobby")
        typed = unique("cafe").replace("-", "") + "e\u0301"
        page.join(typed)
        nfc = unicodedata.normalize("NFC", typed)
        page.wait(lambda: page.js("return document.getElementById('tab-' + encodeURIComponent(arguments[0])).getAttribute('aria-selected')", nfc) == "true"
                  and "zoe" in page.members(), "the accented channel joined")
        page.say("bonjour")
        page.wait(lambda: any(t.endswith("bonjour") for t in page.log_texts(nfc)), "a message in it")
        page.say("\u05e9\u05dc\u05d5\u05dd!")
        page.wait(lambda: any("\u05e9\u05dc\u05d5\u05dd" in t for t in page.log_texts(nfc)), "a Hebrew message")
        assert page.js("return [...document.querySelectorAll('.line .text')].every(s => s.dir === 'auto')")
        page.js("const box = document.getElementById('composer-input'); box.value = 'broken \\ud83d'; box.focus();")
        page.keys(Keys.ENTER)
        page.wait(lambda: any(t.endswith("broken \ufffd") for t in page.log_texts(nfc)), "the message with a broken emoji sent")
        for k in range(6):
            page.join(f"room{k}-with-a-rather-long-name")
        page.wait(lambda: page.js("return document.querySelectorAll('.tab').length") == 8, "eight tabs")
        page.driver.set_window_size(390, 844)
        page.wait(lambda: page.js("return document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling with many tabs",
                  detail=lambda: page.js("return [document.documentElement.scrollWidth, window.innerWidth]"))
        page.by_id("members-toggle").send_keys(Keys.ENTER)
        page.wait(lambda: page.by_id("members").is_displayed(), "member list open")
        assert page.js("return [...document.querySelectorAll('#member-list li')].some(li => li.textContent.startsWith('zoe') && li.offsetParent !== null)")
        page.shot("40-phone-many-tabs")
    finally:
        page.quit()
        server.stop()


def test_web_database_hint_goes_when_redis_is_back(web, shots):
    """A message refused while Redis is stalled explains why; once events come through
    Redis again, that explanation is gone (it stayed until the next send)."""
    from harness import API_KEY, http
    redis = RedisServer()
    server = ChatServer(redis, "web-stall", env={"WEB_ROOT": str(WEB_ROOT), "REDIS_TIMEOUT": "1", "API_KEY": API_KEY})
    page = Page(f"http://127.0.0.1:{server.port}/")
    try:
        page.sign_in("sam", "stall")
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: server.health()[0] == 503, what="the server notices the stall")
            page.say("into the void")
            page.wait(lambda: "cannot reach its database" in page.by_id("composer-hint").text, "the refusal explained")
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: server.health()[0] == 200, timeout=15, what="redis back")
        wait_until(lambda: http(server, "POST", "/api/publish", {"channel": "stall", "message": "we are back"}, key=API_KEY)[0] == 200,
                   what="a message published again")
        page.wait(lambda: any(t.endswith("we are back") for t in page.log_texts()), "the message through redis")
        page.wait(lambda: page.by_id("composer-hint").text == "", "the database hint gone")
    finally:
        page.quit()
        server.stop()
        redis.stop()
