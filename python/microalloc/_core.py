"""The compiled core, in the build that suits this CPU (private: use the microalloc package).

The same C++ sources ship as two extension modules: ``_core_baseline``, for the architecture's
baseline instruction set, and on x86-64 ``_core_x86_64_v3``, compiled for AVX2 and FMA (dense
factorisations about 3x faster). The second is loaded when the CPU and the operating system
support those instructions. The environment variable ``MICROALLOC_ISA`` overrides the choice:
``baseline`` or ``x86-64-v3`` (an error if this machine cannot run it). ``ISA`` names the build
in use.
"""

from __future__ import annotations

import os

from . import _cpu

_CHOICES = ("auto", "baseline", "x86-64-v3")
_want = os.environ.get("MICROALLOC_ISA", "auto").strip().lower() or "auto"
if _want not in _CHOICES:
    raise ImportError(f"MICROALLOC_ISA={_want!r}: expected one of {_CHOICES}")
if _want == "x86-64-v3" and not _cpu.has_x86_64_v3():
    raise ImportError("MICROALLOC_ISA=x86-64-v3, but this CPU lacks AVX2 or FMA")

if _want != "baseline" and _cpu.has_x86_64_v3():
    try:
        from . import _core_x86_64_v3 as _impl

        ISA = "x86-64-v3"
    except ImportError:  # not built (another architecture or compiler)
        if _want == "x86-64-v3":
            raise
        from . import _core_baseline as _impl

        ISA = "baseline"
else:
    from . import _core_baseline as _impl

    ISA = "baseline"

globals().update({k: v for k, v in vars(_impl).items() if not k.startswith("__") or k == "__version__"})
del _impl, _want
