"""``oms-bridge run`` settles its start-up heap (:func:`oms_bridge.service.settle_heap`): what start-up built is
frozen out of the garbage collector's full collections (issue 18: each took ~110 ms with the app loaded, a fifth
of the OMS's first read). Checked in a child process: freezing the test process would keep every later test's
garbage alive."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import gc
from oms_bridge.service import BridgeService
from oms_bridge.settings import get_settings
before = gc.get_freeze_count()
service = BridgeService(get_settings(), scheduler_enabled=False, host="127.0.0.1", port=0).start()
try:
    print(before, gc.get_freeze_count())
finally:
    service.stop()
"""


def test_the_service_freezes_what_start_up_built(sqlite_settings):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ), check=True)
    before, after = (int(n) for n in out.stdout.split()[-2:])
    assert before == 0 and after > 50_000, out.stdout + out.stderr
