"""Four processes deriving the same and different activations into one generated folder at
once (the full pipeline: parse, derive, render, atomic write, locked index, hash-checked
load), with a fifth reading the folder until they are done. Afterwards the index and the files are
consistent: every entry's file exists and matches its sha256, the index is valid JSON with
every activation in it, and no temporary file is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dualcalc.codegen.manifest import INDEX_NAME, read_index, sha256_hex

#: What each process derives: overlapping on purpose (relu three times, gelu twice, ...).
JOBS = [
    ["relu", "gelu"],
    ["max(x, 0)", "erf"],
    ["gelu", "x*exp(-x**2/2)"],
    ["erf", "relu"],
]

WRITER = textwrap.dedent(
    """
    import sys
    import dualcalc
    from dualcalc.compiler import write_module
    folder = sys.argv[1]
    for text in sys.argv[2:]:
        write_module(dualcalc.derive(text), folder)
        module = dualcalc.load(text, directory=folder)  # hash-checked read under the lock
        assert float(module.nngp(1.0, 1.0, 0.5)) > 0, text
    """
)

READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dualcalc.codegen.manifest import locked, read_index, sha256_hex
    folder, done = Path(sys.argv[1]), Path(sys.argv[2])
    bad = seen = 0
    while True:
        last = done.exists()  # one more pass after the writers have finished
        if (folder / "index.json").is_file():
            with locked(folder, exclusive=False):
                entries = read_index(folder)  # raises on a torn index
                for slug, entry in entries.items():
                    seen += 1
                    if sha256_hex((folder / f"{slug}.py").read_bytes()) != entry.sha256:
                        bad += 1
        if last:
            break
        time.sleep(0.005)
    print(bad, seen)
    """
)


@pytest.mark.slow
def test_four_processes_deriving_into_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "generated"
    env = dict(os.environ, JAX_PLATFORMS="cpu", DUALCALC_GENERATED=str(tmp_path / "unused"))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), *texts],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for texts in JOBS
    ]
    done = tmp_path / "writers-done"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(folder), str(done)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for process in writers:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
    finally:
        done.touch()
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    bad, seen = map(int, out.split())
    assert bad == 0 and seen > 0

    raw = json.loads((folder / INDEX_NAME).read_text())  # valid JSON, nothing torn
    entries = read_index(folder)
    assert set(raw["modules"]) == set(entries)
    slugs = {entry.slug for entry in entries.values()}
    assert {"relu", "gelu", "erf"} <= slugs and len(slugs) == 4  # max(x, 0) is relu
    for slug, entry in entries.items():
        assert sha256_hex((folder / f"{slug}.py").read_bytes()) == entry.sha256, slug
    on_disk = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert on_disk == sorted([INDEX_NAME, *(f"{slug}.py" for slug in slugs)])  # no temp files
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not (tmp_path / "unused").exists()
