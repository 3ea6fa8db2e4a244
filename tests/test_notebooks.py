"""Both Colab notebooks execute headlessly on CPU with a small budget (nbclient)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

COLAB = Path(__file__).resolve().parents[1] / "colab"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo.ipynb", "train_small.ipynb"])
def test_notebook_runs(name, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_FRAMES", "6")
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_STEPS", "4")
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_WORKDIR", str(tmp_path / "work"))
  monkeypatch.setenv("MPLBACKEND", "Agg")
  notebook = nbformat.read(COLAB / name, as_version=4)
  NotebookClient(notebook, timeout=900, kernel_name="python3",
                 resources={"metadata": {"path": str(COLAB)}}).execute()
  outputs = "".join(o.get("text", "") for cell in notebook.cells
                    for o in cell.get("outputs", []))
  if name == "demo.ipynb":
    assert "PSNR" in outputs and "enhanced.mp4" in outputs
  else:
    assert "trained to step 4" in outputs and "plotted" in outputs
