"""The user guide's examples run as doctests: its numbers are what the code prints."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def test_the_guide_runs(monkeypatch, tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    text = GUIDE.read_text().replace("/tmp/microalloc-frontier.png", str(tmp_path / "frontier.png"))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "guide", str(GUIDE), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    failed, tried = runner.summarize(verbose=False)
    assert tried >= 40 and failed == 0
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
