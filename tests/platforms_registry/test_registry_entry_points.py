"""A marketplace adapter shipped by another package is found through the ``oms_bridge.platforms`` entry points.

The plug-in is installed the real way, as a ``*.dist-info`` with an ``entry_points.txt`` on ``sys.path``, and
looked up in a fresh interpreter: :mod:`importlib.metadata` then finds it exactly as it would after
``pip install`` (no monkeypatching of the discovery under test; the registry caches, so a subprocess also
keeps this test's installation out of every other test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from platforms.registry import ENTRY_POINT_GROUP, UnknownPlatform, adapter_class, platform_types

BUILTIN = ["cyberbiz", "momo", "shopee", "shopline"]

PLUGIN = '''
from platforms.base import Adapter


class DemoMarketAdapter(Adapter):
    """A third-party marketplace."""

    platform_type = "demo_market"
    display_name = "Demo Market"


class NotAnAdapter:
    pass
'''

PROBE = '''
import json
from platforms.registry import UnknownPlatform, adapter_class, platform_types

answer = {"types": platform_types()}
try:
    cls = adapter_class("demo_market")
    answer["demo_market"] = f"{cls.__module__}.{cls.__qualname__}"
except Exception as exc:  # reported, so the assertion shows what went wrong
    answer["demo_market"] = f"{type(exc).__name__}: {exc}"
answer["shopee"] = adapter_class("shopee").__module__
try:
    adapter_class("no_such_market")
except UnknownPlatform as exc:
    answer["unknown"] = str(exc)
print(json.dumps(answer))
'''


def _install_plugin(site: Path, entry_points: str) -> None:
    """What ``pip install demo-market`` leaves behind: the module and its dist-info with entry points."""
    (site / "demo_market_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    dist = site / "demo_market-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-market\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n", encoding="utf-8")
    (dist / "RECORD").write_text("", encoding="utf-8")


def _probe(site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_registry_finds_an_adapter_installed_through_entry_points(tmp_path):
    # the plug-in also claims "shopee": a built-in type must not be replaced by a plug-in of the same name
    _install_plugin(tmp_path, "demo_market = demo_market_plugin:DemoMarketAdapter\n"
                              "shopee = demo_market_plugin:DemoMarketAdapter")
    run = _probe(tmp_path)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["demo_market"] == "demo_market_plugin.DemoMarketAdapter"
    assert answer["types"] == sorted([*BUILTIN, "demo_market"])
    assert answer["shopee"] == "platforms.shopee.adapter"
    assert answer["unknown"] == ("unknown platform type 'no_such_market'; known types: "
                                 "cyberbiz, demo_market, momo, shopee, shopline")


def test_registry_refuses_an_entry_point_that_is_not_an_adapter(tmp_path):
    _install_plugin(tmp_path, "demo_market = demo_market_plugin:NotAnAdapter")
    run = _probe(tmp_path)
    assert run.returncode != 0
    assert "entry point demo_market = demo_market_plugin:NotAnAdapter is not an Adapter subclass" in run.stderr


def test_registry_unknown_type_lists_the_known_types():
    assert set(BUILTIN) <= set(platform_types())
    with pytest.raises(UnknownPlatform) as caught:
        adapter_class("amazon_tw")
    message = str(caught.value)
    assert message.startswith("unknown platform type 'amazon_tw'; known types: ")
    assert message.removeprefix("unknown platform type 'amazon_tw'; known types: ").split(", ") == platform_types()


def test_registry_builtin_types_map_to_their_adapters():
    for name in BUILTIN:
        assert adapter_class(name).platform_type == name
