"""The fake OMS of the tests is the production simulator (sandboxes/oms.py), so the demo and
the tests exercise the same client."""

from __future__ import annotations

from typing import Any

from sandboxes.oms import OmsSimulator, package_payload

__all__ = ["FakeOms", "package_payload"]


class FakeOms(OmsSimulator):
    @classmethod
    def from_setup(cls, doc: dict, http: Any) -> FakeOms:
        return cls(doc, http)
