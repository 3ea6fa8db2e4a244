"""``jaxenhance <command>`` from any directory: configs by name, --help, one-line errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxenhance import cli, config_loader


def jaxenhance(*args, cwd, timeout=300):
  return subprocess.run([sys.executable, "-m", "jaxenhance.cli", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=timeout, check=False)


def test_config_flags_by_name_resolve_to_the_shipped_configs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # no configs/ here
  quick = config_loader.config_path("quickstart")
  assert quick.is_file() and quick.parent.name == "configs" and quick.parent.parent.name == \
      "jaxenhance"
  assert config_loader.expand_config_flags(
      ["prog", "--config=quickstart", "--config=paper:selected,cpu", "--config=configs/qf.py",
       "--config.train.steps=3", "--workdir=x"]) == [
          "prog", f"--config={quick}", f"--config={config_loader.config_path('paper')}:selected,cpu",
          f"--config={config_loader.config_path('qf')}", "--config.train.steps=3", "--workdir=x"]
  mine = tmp_path / "quickstart.py"  # a file of the user's own wins over the shipped name
  mine.write_text("")
  assert config_loader.expand_config_flags(["--config=quickstart.py"]) == ["--config=quickstart.py"]
  assert config_loader.load_config("flagship:content").generator.num_blocks == 8


@pytest.mark.parametrize("command", list(cli.PROGRAMS))
def test_every_command_has_help(command, tmp_path):
  out = jaxenhance(command, "--help", cwd=tmp_path)
  text = out.stdout + out.stderr
  # The program's own description and flags (absl: docstring + "flags:"; argparse: usage).
  assert ("flags:" in text or "usage:" in text) and "Traceback" not in text, text[-2000:]
  assert command in text or cli.PROGRAMS[command][0] in text
  assert out.returncode in (0, 1)  # argparse exits 0, absl's --help 1


def test_unknown_command_and_bad_input_are_one_line(tmp_path):
  out = jaxenhance("bogus", cwd=tmp_path)
  assert out.returncode == 2 and out.stderr.count("\n") == 1 and "unknown command" in out.stderr
  out = jaxenhance("evaluate", "--checkpoint=nowhere", "--suite=quick", cwd=tmp_path)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert "jaxenhance evaluate: error: checkpoint nowhere: no such directory" in out.stderr
  out = jaxenhance("train", "--config=no_such_config", "--workdir=w", cwd=tmp_path)
  assert out.returncode != 0 and "no_such_config" in out.stderr
  assert not (tmp_path / "w").exists()


def test_enhance_uses_the_shipped_model_by_default_from_any_directory(tmp_path):
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(tmp_path / "in.png")
  out = jaxenhance("enhance", "in.png", "out.png", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  assert Image.open(tmp_path / "out.png").size == (56, 40)
  from jaxenhance import pretrained

  # A shipped model that has not passed the release gate says so on every load.
  assert ("FAILS the release gate" in out.stderr) == (pretrained.release_notice() is not None)


def test_enhance_takes_the_underscore_spelling_of_every_dashed_flag():
  from jaxenhance import enhance

  args = enhance._parser().parse_args(["in.png", "out.png", "--batch_size=3", "--tile-batch=2",
                                       "--no_clobber", "--max_frames=5", "--pix_fmt=yuv444p"])
  assert (args.batch_size, args.tile_batch, args.no_clobber, args.max_frames, args.pix_fmt) == (
      3, 2, True, 5, "yuv444p")
