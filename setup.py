"""Build: the pricing engine and the identity rules compiled to C by mypyc; the rest stays Python.

`price_cart` searches offer combinations, and a member import decides each record by the
identity rules, in pure, fully typed domain code bound by the interpreter: compiled, the same
source prices the slowest carts about twice as fast and takes ~8 % off an import's CPU
(docs/architecture.md, docs/benchmarks.md). The compiled modules give the same results as their
sources (tests/test_compiled.py), so where they cannot be built — no C compiler or no Python
headers — the install warns and goes on with the sources; YIPAN_PURE_PYTHON=1 skips compiling.

The rest of the project's metadata is in pyproject.toml.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

COMPILED = [
    "src/yipan/kernel/money.py",
    "src/yipan/promotions/domain/effects.py",
    "src/yipan/promotions/domain/search.py",
    "src/yipan/promotions/domain/pricing.py",
    "src/yipan/members/domain/identifiers.py",
    "src/yipan/members/domain/identity.py",
    "src/yipan/members/domain/placement.py",
]


class BuildOrFallBack(build_ext):
    """Build the compiled modules, or none of them: a compiled module needs the shared library
    its group was built with, so a partial build is removed, and the sources are used instead."""

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, PlatformError, OSError) as error:
            for extension in self.extensions:
                Path(self.get_ext_fullpath(extension.name)).unlink(missing_ok=True)
            self.extensions = []
            print(
                f"WARNING: the pricing engine and identity rules were not compiled ({error}); "
                "Yipan runs them from their Python sources, with the same results. Install a C "
                "compiler and the Python headers (Debian: gcc python3-dev) and install again."
            )


def extensions() -> list[object]:
    if os.environ.get("YIPAN_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    # The project's mypy configuration loads the pydantic plugin, which the build environment
    # does not have and these modules do not need: they import nothing outside the domain.
    options = ["--config-file", "", "--strict", "--python-version", "3.11"]
    return list(mypycify([*options, *COMPILED], group_name="yipan_native", opt_level="3"))


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildOrFallBack})
