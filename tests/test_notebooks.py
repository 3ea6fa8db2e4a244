"""Both Colab notebooks execute headlessly on CPU with a small budget (nbclient), each in a new
virtual environment whose kernel does not have jaxenhance until the notebook's install cell
puts it there.

The new environment starts as a Colab runtime does: the scientific stack (jax, numpy,
tensorflow, ...) preinstalled, here borrowed from the project's environment through a ``.pth``
file that lists a folder of links to its packages, every jaxenhance entry left out. So the
first cell really has to install the package (``%pip install <checkout>``, built as a wheel)
and import it in the running kernel, without a restart.
"""

import json
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
COLAB = ROOT / "colab"


def _is_jaxenhance(name: str) -> bool:
  lowered = name.lower()
  return lowered.startswith(("jaxenhance", "__editable__.jaxenhance", "__editable___jaxenhance"))


@pytest.fixture(scope="module")
def fresh_kernel(tmp_path_factory):
  """A kernel name whose Python is a new virtual environment without jaxenhance."""
  root = tmp_path_factory.mktemp("fresh")
  venv.create(root / "venv", with_pip=True, symlinks=True)
  python = root / "venv" / "bin" / "python"
  purelib = Path(subprocess.check_output(
      [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
      text=True).strip())
  base = root / "base"
  base.mkdir()
  for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
    if not _is_jaxenhance(entry.name) and entry.suffix != ".pth":
      (base / entry.name).symlink_to(entry)
  (purelib / "preinstalled.pth").write_text(f"{base}\n")
  spec = root / "jupyter" / "kernels" / "fresh"
  spec.mkdir(parents=True)
  (spec / "kernel.json").write_text(json.dumps({
      "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      "display_name": "fresh venv", "language": "python"}))
  check = subprocess.run([python, "-c", "import jaxenhance"], capture_output=True, text=True,
                         check=False, cwd=root)
  assert check.returncode != 0, "the new environment must not see jaxenhance before the install"
  return str(root / "jupyter")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo.ipynb", "train_small.ipynb"])
def test_notebook_installs_itself_and_runs(name, fresh_kernel, tmp_path, monkeypatch):
  monkeypatch.setenv("JUPYTER_PATH", fresh_kernel)
  monkeypatch.setenv("JAXENHANCE_SOURCE", str(ROOT))
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_FRAMES", "6")
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_STEPS", "4")
  monkeypatch.setenv("JAXENHANCE_NOTEBOOK_WORKDIR", str(tmp_path / "work"))
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
  notebook = nbformat.read(COLAB / name, as_version=4)
  NotebookClient(notebook, timeout=900, kernel_name="fresh",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  outputs = "".join(o.get("text", "") for cell in notebook.cells
                    for o in cell.get("outputs", []))
  # The kernel imported the package it installed, not the project's checkout.
  installed_from = next(line for line in outputs.splitlines()
                        if line.startswith("jaxenhance from"))
  assert str(fresh_venv_dir(fresh_kernel)) in installed_from, installed_from
  if name == "demo.ipynb":
    assert "PSNR" in outputs and "enhanced.mp4" in outputs
  else:
    assert "trained to step 4" in outputs and "plotted" in outputs


def fresh_venv_dir(jupyter_dir: str) -> Path:
  """The new environment's folder (beside the kernel spec folder)."""
  return Path(jupyter_dir).parent / "venv"


def test_install_cell_is_first_and_says_how_to_get_jax_for_each_runtime():
  for name in ("demo.ipynb", "train_small.ipynb"):
    cells = nbformat.read(COLAB / name, as_version=4).cells
    install = cells[1].source
    assert "%pip install -q {SOURCE}" in install and "jax[cuda12]" in install
    assert "jax[tpu]" in install and "no restart" in install
