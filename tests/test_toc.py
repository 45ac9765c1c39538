"""The book's table of contents and the labs' conventions, checked on the committed sources.

Every lab in ``notebooks/`` is in ``_toc.yml`` and every ``_toc.yml`` entry exists; every lab is
committed without outputs, opens with the Colab install cell (tagged ``hide-output``) and
asserts on its science.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst")


def toc_files(node) -> list[str]:
    """Every ``file:`` (and the ``root``) of a Jupyter Book table of contents, in order."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                found.extend(toc_files(child))
    return found


ENTRIES = toc_files(TOC)


def strip_suffix(entry: str) -> str:
    path = Path(entry)
    return str(path.with_suffix("")) if path.suffix in SOURCE_SUFFIXES else entry


def source_of(entry: str) -> list[Path]:
    base = ROOT / strip_suffix(entry)
    return [
        base.with_suffix(suffix) for suffix in SOURCE_SUFFIXES if base.with_suffix(suffix).is_file()
    ]


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_toc_has_a_root_and_no_duplicates():
    assert TOC.get("root"), "_toc.yml needs a `root:` page (the book's front page)."
    normalised = [strip_suffix(entry) for entry in ENTRIES]
    duplicates = sorted({entry for entry in normalised if normalised.count(entry) > 1})
    assert not duplicates, f"These pages appear more than once in _toc.yml: {duplicates}"


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_toc_entry_exists(entry):
    found = source_of(entry)
    assert found, (
        f"_toc.yml lists `{entry}` but there is no {entry}.md or {entry}.ipynb: "
        "create the page or remove the entry."
    )
    assert len(found) == 1, f"`{entry}` is ambiguous: both {[p.name for p in found]} exist."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_is_in_the_toc(path):
    entry = f"notebooks/{path.stem}"
    assert entry in {strip_suffix(e) for e in ENTRIES}, (
        f"{path.relative_to(ROOT)} is not in _toc.yml: add `- file: {entry}` (as a section under "
        "its chapter's page), or the book will not show it."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    dirty = [
        i
        for i, cell in enumerate(code_cells(load(path)))
        if cell.get("outputs") or cell.get("execution_count") is not None
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} (0-based) carry outputs or execution counts. Commit "
        f"notebooks without outputs: `jupyter nbconvert --clear-output --inplace {path.name}`."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_the_python3_kernel(path):
    kernel = load(path)["metadata"].get("kernelspec", {})
    assert kernel.get("name") == "python3", (
        f"{path.name}: set metadata.kernelspec to "
        '{"name": "python3", "display_name": "Python 3", "language": "python"}.'
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_installs_the_course_on_colab(path):
    cells = code_cells(load(path))
    assert cells, f"{path.name} has no code cell."
    first = cells[0]
    text = source(first)
    repository = CONFIG["repository"]["url"].rstrip("/")
    assert '"google.colab" in sys.modules' in text and "%pip install" in text, (
        f"{path.name}: the first code cell must be the Colab install cell "
        '(`if "google.colab" in sys.modules: %pip install ...`), found:\n' + text
    )
    assert f"git+{repository}" in text, (
        f"{path.name}: the Colab install cell must install from {repository} (_config.yml's "
        "repository url)."
    )
    tags = first.get("metadata", {}).get("tags", [])
    assert "hide-output" in tags, f"{path.name}: tag the Colab install cell `hide-output`."
    assert "skip-execution" not in tags, (
        f"{path.name}: the Colab install cell must run everywhere (it does nothing off Colab); "
        "remove its `skip-execution` tag."
    )


def asserts_in(cell_source: str) -> list[ast.Assert]:
    python = TransformerManager().transform_cell(cell_source)  # %pip and friends to Python
    return [node for node in ast.walk(ast.parse(python)) if isinstance(node, ast.Assert)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_asserts_on_its_science(path):
    found = [node for cell in code_cells(load(path)) for node in asserts_in(source(cell))]
    real = [node for node in found if not isinstance(node.test, ast.Constant)]
    assert real, (
        f"{path.name} has no `assert` on a computed value: check the science "
        "(an accuracy, a PSNR, a speed-up) so CI fails when it breaks."
    )


def test_scoreboard_runs_after_the_labs():
    """nbmake runs the notebooks in sorted order; the scoreboard reads what the labs recorded."""
    names = [path.name for path in NOTEBOOKS]
    assert "scoreboard.ipynb" in names, (
        "notebooks/scoreboard.ipynb (the reproduction scoreboard) is missing."
    )
    later = [name for name in names if name > "scoreboard.ipynb"]
    assert not later, (
        f"{later} sort after scoreboard.ipynb, so nbmake runs them after the "
        "scoreboard has been built: rename them (labs are named chN_<topic>.ipynb)."
    )
