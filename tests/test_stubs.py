"""The type stub of the compiled core, python/microalloc/_core.pyi, matches the compiled modules.

``microalloc._core`` re-exports one of the compiled builds (``_core_baseline``, ``_core_x86_64_v3``),
whose objects keep their own ``__module__``. mypy's stubtest skips names that seem imported from
another module, so on ``microalloc._core`` alone it would not see a function missing from the stub.
The test therefore runs stubtest on each compiled build, in a copy of the installed package in which
the build gets the same stub as ``_core``: the runtime objects are the real compiled ones, and every
name they define must be in the stub and agree with it.

pybind11 functions carry no ``__text_signature__``, so stubtest cannot compare their parameters;
a second test compares each stub function's parameter names and defaults with the signature line
that pybind11 writes at the top of the function's docstring.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import microalloc
from microalloc import _core, _cpu

pytest.importorskip("mypy.stubtest")

PACKAGE = Path(microalloc.__file__).parent
STUB = PACKAGE / "_core.pyi"

# Each entry is a regular expression over stubtest's object names; keep this to what no stub can
# express, and say why.
ALLOWLIST = r"""
# pybind11's native enums (real enum.IntEnum classes) carry a capsule, __pybind11_native_enum__,
# that pybind11 uses internally; it is no part of the interface.
microalloc\._core_\w+\.(Status|CovarianceIssue|BoundsIssue)\.__pybind11_native_enum__
# ISA is set by the Python wrapper _core.py (which build it loaded), not by the compiled builds.
microalloc\._core_(baseline|x86_64_v3)\.ISA
"""


def _builds() -> list[tuple[str, str]]:
    """(module, MICROALLOC_ISA value) of each compiled build this machine can load."""
    out = [("_core_baseline", "baseline")]
    if _cpu.has_x86_64_v3() and any(PACKAGE.glob("_core_x86_64_v3.*")):
        out.append(("_core_x86_64_v3", "x86-64-v3"))
    return out


@pytest.mark.parametrize(("module", "isa"), _builds())
def test_stubtest_passes_on_a_compiled_build(tmp_path: Path, module: str, isa: str) -> None:
    # One build per process: pybind11 refuses to register the same native enum twice.
    pkg = tmp_path / "microalloc"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(STUB, pkg / f"{module}.pyi")
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(ALLOWLIST)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), MYPYPATH=str(tmp_path), MICROALLOC_ISA=isa)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--allowlist", str(allowlist), f"microalloc.{module}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout, proc.stdout


def test_the_wrapper_names_the_build_it_loaded() -> None:
    # The one name of _core.pyi that the wrapper, not a compiled build, defines.
    assert "ISA: str" in STUB.read_text()
    assert _core.ISA in ("baseline", "x86-64-v3")


def _split_top_level(text: str) -> list[str]:
    """Split a parameter list at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:])
    return [p.strip() for p in parts]


def _runtime_parameters(func: object) -> list[tuple[str, bool]]:
    """(name, has default) of each parameter, from pybind11's docstring signature line."""
    name = func.__name__  # type: ignore[attr-defined]
    first = (func.__doc__ or "").splitlines()[0]
    assert first.startswith(f"{name}("), f"{name}: no signature line in its docstring: {first!r}"
    # The parameter list ends at the parenthesis that closes the one after the name.
    depth = 0
    for i, ch in enumerate(first[len(name) :], start=len(name)):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            break
    params = []
    for p in _split_top_level(first[len(name) + 1 : i]):
        pname = p.split(":", 1)[0].strip()
        params.append((pname, "=" in p.split(":", 1)[1] if ":" in p else "=" in p))
    return params


def _stub_functions() -> dict[str, list[tuple[str, bool]]]:
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args]
            n_defaults = len(args.defaults)
            params = [(n, i >= len(names) - n_defaults) for i, n in enumerate(names)]
            params += [(a.arg, d is not None) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
            out[node.name] = params
    return out


def test_stub_functions_have_the_compiled_parameters() -> None:
    stub = _stub_functions()
    assert stub, "no function found in the stub"
    compiled = {k for k, v in vars(_core).items() if callable(v) and type(v).__name__ == "builtin_function_or_method"}
    assert compiled == set(stub), f"in the core only: {compiled - set(stub)}; in the stub only: {set(stub) - compiled}"
    for name, params in stub.items():
        assert _runtime_parameters(getattr(_core, name)) == params, name
