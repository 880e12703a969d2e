"""What a process pays to start: every API worker, CLI command and test subprocess imports the app.

The numerical stacks of the insights (pandas with pyarrow, scipy.stats and scipy.optimize) are
loaded when a model is fitted or a forecast made, not at import: together they were ~1.4 s and
~110 MB of every process that imported the app.
"""

from __future__ import annotations

import json
import subprocess
import sys

LOADED_LATE = ("pandas", "pyarrow", "scipy.stats", "scipy.optimize", "statsforecast", "implicit")


def test_importing_the_app_leaves_the_numerical_stacks_unloaded() -> None:
    probe = (
        "import json, sys, yipan.app, yipan.cli.main; "
        f"print(json.dumps([m for m in {LOADED_LATE!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
