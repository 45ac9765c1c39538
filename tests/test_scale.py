import json
import re
from pathlib import Path

import pytest

from fl_course.scale import SCALES, Stopwatch, current_scale, lab_settings

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LABS = sorted(p for p in NOTEBOOKS.glob("ch*_*.ipynb"))


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_every_lab_reads_its_sizes_from_the_switch(lab):
    chapter = lab.name.split("_")[0]
    code = "\n".join(
        "".join(c["source"])
        for c in json.loads(lab.read_text())["cells"]
        if c["cell_type"] == "code"
    )
    assert re.search(rf"lab_settings\(\s*[\"']{chapter}[\"']", code), (
        f"{lab.name} must take its sizes from lab_settings({chapter!r})"
    )
    ci, paper = SCALES[chapter]["ci"], SCALES[chapter]["paper"]
    assert ci.keys() == paper.keys()
    assert any(ci[k] != paper[k] for k in ci), f"{chapter}: paper scale changes nothing"


def test_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv("FL_COURSE_SCALE", raising=False)
    assert current_scale() == "ci"
    monkeypatch.setenv("FL_COURSE_SCALE", "paper")
    assert lab_settings("ch1").scale == "paper"
    monkeypatch.setenv("FL_COURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="FL_COURSE_SCALE must be one of"):
        current_scale()
    with pytest.raises(ValueError, match="No sizes for 'ch9'"):
        lab_settings("ch9", scale="ci")


def test_stopwatch_adds_up_repeated_steps():
    watch = Stopwatch()
    for _ in range(2):
        with watch("step"):
            pass
    assert list(watch.table().index) == ["step"] and watch.seconds["step"] >= 0
    assert watch.elapsed() >= watch.seconds["step"]


def test_stopwatch_times_a_step_that_raises():
    watch = Stopwatch()
    with pytest.raises(RuntimeError):
        with watch("failing step"):
            raise RuntimeError("boom")
    assert watch.seconds["failing step"] >= 0
