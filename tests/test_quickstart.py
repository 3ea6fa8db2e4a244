"""End to end: the README's main job (python -m jaxenhance.run) on real footage, tiny budget.

Every stage runs for real (records, layer selection, training, evaluation, enhancement); only
sizes and step counts are shrunk so the test takes a few minutes on 2 cores.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_main_job_runs_every_stage(tmp_path):
  overrides = [
      "--config.data.max_frames=8", "--config.data.patch_size=32", "--config.data.patch_stride=32",
      "--config.data.crop_size=32", "--config.data.max_height=96",
      "--config.generator.width=8", "--config.generator.num_blocks=1",
      "--config.critic.width=8", "--config.critic.proj_channels=4",
      "--config.critic.num_downsamples=2",
      "--config.selection.size=32", "--config.selection.num_freqs=6",
      "--config.selection.num_orients=4",
      "--config.train.steps=6", "--config.train.warmup_steps=3", "--config.train.log_every=3",
      "--config.train.checkpoint_every=3", "--config.train.image_summary_every=3",
      "--config.eval.metrics=('psnr','ssim','lpips')", "--config.eval.max_examples=16",
      "--config.eval.suite=video/carphone",  # the suite stage on its always-installed item
  ]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run(
      [sys.executable, "-m", "jaxenhance.run", "--config=configs/quickstart.py",
       f"--workdir={tmp_path}", *overrides],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
  assert out.returncode == 0, out.stderr[-4000:]
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert set(summary) == {"assets", "features", "prepare", "select", "train", "evaluate",
                          "suite", "enhance"}
  for name, stage in summary.items():
    assert "skipped" not in stage, (name, stage)
  assert summary["train"]["last_step"] == 6
  assert (tmp_path / "vgg_feature_maps.png").is_file()
  assert (tmp_path / "selection" / "report.json").is_file()
  assert (tmp_path / "export" / "generator.msgpack").is_file()
  assert (tmp_path / "eval" / "results.json").is_file()
  assert set(summary["suite"]["rungs"]) == {"h264_qp37", "jpeg_qf10"}
  assert (tmp_path / "suite" / "suite.md").is_file()
  assert list((tmp_path / "enhance").glob("*.mp4"))
