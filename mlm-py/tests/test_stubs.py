"""The hand-written stubs agree with the built module, and the package type-checks.

`mypy.stubtest` imports the installed native module and compares every name and signature
with `mlm/_mlm.pyi`; it fails when a method is added, removed or changed on one side only.
The pure-Python layer carries its own annotations, checked with `mypy --strict`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlm

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # From a neutral directory, so mypy sees only the installed package.
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


def test_native_stubs_match_the_module(tmp_path: Path) -> None:
    result = run(tmp_path, "mypy.stubtest", "mlm._mlm")
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_and_example_type_check_strictly(tmp_path: Path) -> None:
    for target in (["-p", "mlm"], [str(EXAMPLES / "notebook_walkthrough.py")]):
        result = run(tmp_path, "mypy", "--strict", "--cache-dir=/dev/null", *target)
        assert result.returncode == 0, result.stdout + result.stderr


def test_package_is_typed() -> None:
    package = Path(mlm.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_mlm.pyi").is_file()
