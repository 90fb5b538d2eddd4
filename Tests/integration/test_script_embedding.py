"""The scripts the test_script_*.py files run (lua.py expands `--@include` itself) are
the ones the server runs: the EmbedLua plugin's generated LuaSource.swift, beside the
server binary under test, holds the same text for every script."""
import re

import pytest

from harness import SERVER_BIN
from lua import SCRIPTS, source


def generated() -> dict:
    build = SERVER_BIN.parents[2]  # .build/<triple>/<config>/chat-server
    found = sorted(build.glob("plugins/outputs/*/ChatServer/destination/EmbedLua/LuaSource.swift"))
    if not found:
        pytest.skip(f"no generated LuaSource.swift under {build}")
    text = found[0].read_text()
    return {m.group(1): m.group(3) for m in re.finditer(r'static let (\w+) = (#+)"""\n(.*?)\n"""\2\n', text, re.S)}


def test_every_script_is_embedded_as_the_tests_run_it():
    embedded = generated()
    names = sorted(p.stem for p in SCRIPTS.glob("*.lua"))
    assert sorted(embedded) == names
    for name in names:
        assert embedded[name] == source(name), name
