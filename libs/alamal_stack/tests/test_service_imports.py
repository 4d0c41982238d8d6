"""Lighter processes: a service's start-up imports nothing it only needs for a rare request.

matplotlib and numpy (charts), openpyxl (XLSX exports) and PyMongo (a MongoDB store) cost tens
of MiB resident per process; they load on first use. The services' apps are imported in a fresh
interpreter, as `./alamal run` starts them.
"""

from __future__ import annotations

import json
import subprocess
import sys

from alamal_stack.services import SERVICES

HEAVY = ("matplotlib", "numpy", "openpyxl", "pymongo", "PIL")

_PROBE = """
import importlib, json, sys
heavy = sys.argv[1].split(",")
loaded = lambda: sorted(m for m in heavy if m in sys.modules)
for module in sys.argv[2:]:
    importlib.import_module(module + ".app")
at_start = loaded()
from alamal_reporting import charts, exports
import threading
exports.to_xlsx([])  # the first export of a workbook
after_export = loaded()
charts.warm_up()  # what opening the reports does
for thread in threading.enumerate():
    if thread.name == "charts-warm-up":
        thread.join()
print(json.dumps({"at_start": at_start, "after_an_export": after_export, "warm": loaded()}))
"""


def test_services_start_without_their_rarely_used_heavy_modules() -> None:
    modules = [spec.module for spec in SERVICES]
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", _PROBE, ",".join(HEAVY), *modules],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["at_start"] == []
    assert "openpyxl" in found["after_an_export"], "loaded when first used"
    assert "matplotlib" not in found["after_an_export"]
    assert "matplotlib" in found["warm"], "opening the reports loads the charts' library"
