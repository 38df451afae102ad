"""The notebooks are committed executed (a reader sees every derivation, formula and plot without
running anything), and the suite executes them again from top to bottom (nbclient)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_derive_gelu.ipynb",
        "02_hermite_spectra.ipynb",
        "03_custom_activation.ipynb",
        "04_sketched_features.ipynb",
    ]


#: What a committed output must not contain: machine paths, tracebacks.
FOREIGN = re.compile(r"/(?:work|home|root|tmp|usr)/|site-packages|Traceback")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed(path):
    """Every code cell ran, in order, without errors; plots and LaTeX are in the file."""
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), path.name
    kinds = set()
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", path.name
            kinds.update(out.get("data", {}))
            text = out.get("text", "") + "".join(str(v) for v in out.get("data", {}).values())
            assert not FOREIGN.search(text), f"{path.name}: {FOREIGN.search(text).group()}"
    assert "image/png" in kinds, f"{path.name} shows no plot"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path):
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
