"""Every broken site file under tests/config/broken/ is rejected with exit 1 and a line that names the
offending dotted path and the right line.

Each file says what it expects on its first line (``# expect: dotted.path | message fragment``) and marks
the offending line with ``# <- here``; for a missing key that is the line of the mapping lacking it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zoe_ems.config.check import check_config, check_config_main

BROKEN = Path(__file__).parent / "broken"
BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str, int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    match = re.match(r"# expect: (\S+) \| (.+)$", lines[0])
    assert match, f"{path.name}: first line must be '# expect: dotted.path | message fragment'"
    marked = [number for number, text in enumerate(lines, start=1) if "# <- here" in text]
    assert len(marked) == 1, f"{path.name}: mark exactly one line with '# <- here'"
    return match.group(1), match.group(2), marked[0]


def test_there_are_at_least_fifteen_distinct_broken_site_files() -> None:
    expected_paths = {_expectation(path)[0] + _expectation(path)[1] for path in BROKEN_FILES}
    assert len(BROKEN_FILES) >= 15
    assert len(expected_paths) == len(BROKEN_FILES)


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[p.stem for p in BROKEN_FILES])
def test_broken_site_file_exits_1_naming_the_path_and_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dotted_path, fragment, line = _expectation(path)

    exit_code = check_config_main(str(path))

    out = capsys.readouterr().out
    assert exit_code == 1
    assert "Traceback" not in out
    prefix = f"{path}:{line}: {dotted_path}: "
    matching = [text for text in out.splitlines() if text.startswith(prefix)]
    assert matching, f"expected a line starting with {prefix!r}, got:\n{out}"
    assert fragment in matching[0], f"expected {fragment!r} in {matching[0]!r}"


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[p.stem for p in BROKEN_FILES])
def test_broken_site_file_has_exactly_the_one_intended_error(path: Path) -> None:
    config, problems = check_config(path)

    errors = [p for p in problems if p.severity == "error"]
    assert config is None
    assert len(errors) == 1, "\n".join(str(p) for p in errors)
