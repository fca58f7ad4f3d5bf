"""The notebooks of notebooks/ run top to bottom on captures/ (executed with nbclient)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("explore_capture.ipynb", "audit_from_api.ipynb")

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernel running this interpreter: the installed ``python3`` kernelspec if it is ours,
    else one written to a temporary Jupyter data dir."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        argv0 = spec.argv[0]
        if argv0 in ("python", "python3", sys.executable) or Path(argv0).resolve() == Path(sys.executable).resolve():
            return "python3"
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    install(kernel_name="ctidissect-test", prefix=str(prefix))
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter") + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    return "ctidissect-test"


def test_notebooks_are_generated_from_the_script():
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import build_notebooks
    finally:
        sys.path.remove(str(NOTEBOOKS))
    for name, build in build_notebooks.NOTEBOOKS.items():
        on_disk = nbformat.read(NOTEBOOKS / name, as_version=4)
        fresh = build()
        assert [c.source for c in on_disk.cells] == [c.source for c in fresh.cells], (
            f"{name} is stale: run python notebooks/build_notebooks.py"
        )


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, kernel_name, tmp_path, monkeypatch):
    if not any((ROOT / "captures").glob("*.pcap")):
        pytest.skip("captures/ holds no sample capture")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name=kernel_name, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if name == "explore_capture.ipynb":
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3, "latency plots and the ladder are displayed"
    last = nb.cells[-1].outputs
    assert any("ok" in o.get("text", "") for o in last)
