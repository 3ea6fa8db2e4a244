"""The trainer end to end on real records: train, resume exactly, checkpoints, guards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance import checkpointing, export, train
from jaxenhance.data import builder
from train_helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records")
  config = tiny_config(workdir / "records")
  builder.build(config, workdir, num_workers=1)
  return workdir / "records"


def params_of(summary):
  return jax.tree.map(np.asarray, jax.device_get(summary["state"]))


def test_train_writes_checkpoints_export_and_logs(records, tmp_path):
  config = tiny_config(records)
  config.train.export_every = 2  # snapshots for the learning curve
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary["last_step"] == 6
  assert np.isfinite(summary["metrics"]["generator_loss"])
  assert "wasserstein" in summary["metrics"] and "gp" in summary["metrics"]
  assert summary["costs"]["adversarial"]["flops"] > 0
  assert summary["metrics"]["gflops_per_sec"] > 0
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert steps == [3, 6]
  generator, params, meta = export.load_generator(tmp_path / "export")
  assert meta["step"] == 6 and meta["critic_layers"] == ["relu1_2"]
  assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
  assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["step_2", "step_4",
                                                                      "step_6"]
  _, snapshot, snapshot_meta = export.load_generator(tmp_path / "exports" / "step_6")
  assert snapshot_meta["step"] == 6
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(snapshot),
                                                  jax.tree.leaves(params)))


def test_lazy_gradient_penalty_trains(records, tmp_path):
  """loss.gp_every = 2: the penalty steps (4, 6) log a penalty, the plain step 3 and 5 do not."""
  config = tiny_config(records)
  config.train.log_every = 1
  config.loss.gp_every = 2
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary["last_step"] == 6 and np.isfinite(summary["metrics"]["generator_loss"])
  assert summary["costs"]["adversarial_no_gp"]["flops"] < summary["costs"]["adversarial"]["flops"]
  gp_steps = sorted(logged_scalars(tmp_path / "logs").get("gp", {}))
  assert gp_steps == [4, 6]


def logged_scalars(logdir: Path) -> dict[str, dict[int, float]]:
  """``{tag: {step: value}}`` of the TensorBoard scalars the trainer wrote."""
  import tensorflow as tf
  from tensorboard.backend.event_processing import event_file_loader

  out: dict[str, dict[int, float]] = {}
  for path in logdir.glob("events.out.tfevents.*"):
    for event in event_file_loader.EventFileLoader(str(path)).Load():
      for value in event.summary.value:
        array = tf.make_ndarray(value.tensor) if value.HasField("tensor") else None
        if array is not None and array.ndim == 0:  # images are tensors too
          out.setdefault(value.tag, {})[event.step] = float(array)
  return out


def test_periodic_eval_writes_held_out_metrics(records, tmp_path):
  config = tiny_config(records)
  config.train.eval_every = 4
  config.eval.train_max_examples = 8
  summary = train.train_and_evaluate(config, tmp_path)
  logged = logged_scalars(tmp_path / "logs")
  for name in ("psnr", "ssim", "lpips"):
    # Every eval_every steps and at the last step; the compressed baseline beside each.
    assert set(logged[f"eval/{name}"]) == {4, 6}, name
    assert set(logged[f"eval/{name}_compressed"]) == {4, 6}, name
    assert np.isfinite(logged[f"eval/{name}"][6])
  assert "eval/fid" not in logged  # only eval.train_metrics
  assert summary["eval"]["eval/psnr"] == pytest.approx(logged["eval/psnr"][6])
  assert 10 < logged["eval/psnr_compressed"][4] < 60


def test_periodic_eval_is_skipped_without_test_records_but_checks_config(records, tmp_path,
                                                                         caplog):
  config = tiny_config(records)
  config.train.eval_every = 2
  config.data.data_dir = str(tmp_path / "no_records")
  assert train.make_evaluator(config, tmp_path / "no_records") is None
  assert "no test records" in caplog.text
  config = tiny_config(records)
  config.train.eval_every = 2
  config.eval.train_metrics = ("psnr", "sharpness")
  with pytest.raises(ValueError, match="unknown metric"):
    train.make_evaluator(config, records)
  config.train.eval_every = 0
  assert train.make_evaluator(config, records) is None


def test_resume_gives_identical_parameters(records, tmp_path):
  """6 steps in one go == 3 steps, stop, resume, 3 more (same params, same data order).

  With periodic evaluation on (steps 3, 4 and 6 here): it reads its own test pipeline and must
  not consume training batches or random numbers.
  """
  def config_of(steps):
    config = tiny_config(records)
    config.train.update(steps=steps, eval_every=4)
    config.eval.train_max_examples = 4
    return config

  straight = params_of(train.train_and_evaluate(config_of(6), tmp_path / "a"))
  train.train_and_evaluate(config_of(3), tmp_path / "b")
  resumed = train.train_and_evaluate(config_of(6), tmp_path / "b")
  assert resumed["first_step"] == 3
  resumed = params_of(resumed)
  for key in ("g_params", "d_params", "g_opt", "d_opt", "rng", "step"):
    chex_equal = jax.tree.map(np.array_equal, straight[key], resumed[key])
    assert all(jax.tree.leaves(chex_equal)), f"{key} differs after resume"


def test_truncated_latest_checkpoint_falls_back(records, tmp_path, capsys):
  config = tiny_config(records)
  train.train_and_evaluate(config, tmp_path)
  # Garble every file of the newest checkpoint's state.
  for path in (tmp_path / "checkpoints" / "6" / "state").rglob("*"):
    if path.is_file() and path.stat().st_size > 0:
      path.write_bytes(b"\0" * 7)
  config.train.steps = 7
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary["first_step"] == 3
  assert "unreadable" in capsys.readouterr().out


def test_second_trainer_on_same_workdir_refuses(records, tmp_path):
  lock = checkpointing.WorkdirLock(tmp_path).acquire()
  try:
    with pytest.raises(checkpointing.WorkdirLockedError, match="another trainer"):
      train.train_and_evaluate(tiny_config(records), tmp_path)
  finally:
    lock.release()


def test_workdir_of_another_config_is_refused(records, tmp_path):
  config = tiny_config(records)
  config.train.steps = 3
  train.train_and_evaluate(config, tmp_path)
  other = tiny_config(records)
  other.generator.width = 12
  with pytest.raises(checkpointing.ConfigMismatchError, match="different config"):
    train.train_and_evaluate(other, tmp_path)
  assert (tmp_path / "checkpoints" / "3").is_dir()  # nothing lost


_SHARDED = r"""
import json, sys
import jax, numpy as np
sys.path.insert(0, "tests")
from train_helpers import tiny_config
from jaxenhance import train
if jax.device_count() == 8:  # a global batch that 8 devices cannot split is refused clearly
  bad = tiny_config(sys.argv[1])
  bad.data.batch_size = 12
  try:
    train.train_and_evaluate(bad, sys.argv[2] + "-bad")
    raise SystemExit("batch 12 on 8 devices was accepted")
  except ValueError as exc:
    assert "not divisible by the 8 devices" in str(exc), exc
config = tiny_config(sys.argv[1])
summary = train.train_and_evaluate(config, sys.argv[2])
print("RESULT", json.dumps({"devices": jax.device_count(), "metrics": summary["metrics"],
      "g_sum": float(sum(np.abs(np.asarray(x)).sum() for x in
                        jax.tree.leaves(summary["state"]["g_params"])))}))
"""


def _run_sharded(records, workdir, devices):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _SHARDED, str(records), str(workdir)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")][-1]
  return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_one_device_and_eight_devices_agree(records, tmp_path):
  """Same config, same data: 1 vs 8 CPU devices give the same losses after 6 steps.

  Tolerance rtol 1e-3: the 8-way batch reductions sum in another order (float32), and Adam with
  β1 = 0 normalises each update by the gradient's own magnitude, so round-off of ~1e-7 in a
  gradient grows to ~1e-4 in the losses over a few steps. A sharding bug (wrong batch split,
  unsynchronised gradients) shows up as differences of 1e-2 and more.
  """
  one = _run_sharded(records, tmp_path / "one", 1)
  eight = _run_sharded(records, tmp_path / "eight", 8)
  assert one["devices"] == 1 and eight["devices"] == 8
  for key in ("generator_loss", "l1", "d_real", "d_fake"):
    np.testing.assert_allclose(eight["metrics"][key], one["metrics"][key], rtol=1e-3, atol=1e-5,
                               err_msg=key)
  # Differences of nearly equal means (Wasserstein estimate, critic loss) and the small gradient
  # penalty amplify that round-off relative to their own size: compared on an absolute scale.
  for key in ("wasserstein", "gp"):
    np.testing.assert_allclose(eight["metrics"][key], one["metrics"][key], rtol=0, atol=2e-3,
                               err_msg=key)
  # The critic loss carries lambda_gp = 10 times the penalty's round-off (2.8e-3 seen on an
  # AVX-512 CPU with d_real, d_fake and gp all within their tolerances).
  np.testing.assert_allclose(eight["metrics"]["d_loss"], one["metrics"]["d_loss"], rtol=0,
                             atol=5e-3, err_msg="d_loss")
  # Adam's per-parameter normalisation turns sign flips of near-zero gradients into full-size
  # updates, so parameter sums drift by ~1e-3 relative over 6 steps from round-off alone.
  np.testing.assert_allclose(eight["g_sum"], one["g_sum"], rtol=5e-3)


def test_dry_run_reports_memory_and_flops(tmp_path, capsys):
  config = tiny_config()
  summary = train.train_and_evaluate(config, tmp_path, dry_run=True)
  costs = summary["dry_run"]
  assert costs["adversarial"]["flops"] > costs["pretrain"]["flops"] > 0
  assert costs["adversarial"]["peak_bytes_estimate"] > 0
  assert '"per_device"' in capsys.readouterr().out
  assert not (tmp_path / "checkpoints").exists()
  # A lazy gradient penalty compiles the penalty-free step too, and it does less.
  config.loss.gp_every = 4
  lazy = train.train_and_evaluate(config, tmp_path, dry_run=True)["dry_run"]
  assert 0 < lazy["adversarial_no_gp"]["flops"] < lazy["adversarial"]["flops"]


def test_init_generator_starts_from_an_export(records, tmp_path):
  first = tiny_config(records)
  first.train.steps = 3
  train.train_and_evaluate(first, tmp_path / "a")
  _, trained, _ = export.load_generator(tmp_path / "a" / "export")
  second = tiny_config(records)
  second.train.update(steps=0, init_generator=str(tmp_path / "a" / "export"))
  summary = train.train_and_evaluate(second, tmp_path / "b")
  got = jax.device_get(summary["state"]["g_params"])
  jax.tree.map(np.testing.assert_array_equal, got, trained)
  # A codec-conditioned generator starts from the plain export with a zero FiLM table.
  conditioned = tiny_config(records)
  conditioned.generator.conditioning = "codec"
  conditioned.train.update(steps=0, init_generator=str(tmp_path / "a" / "export"))
  got = jax.device_get(train.train_and_evaluate(conditioned, tmp_path / "d")["state"]["g_params"])
  film = got["params"].pop("codec_film")
  assert not np.any(film["embedding"])
  jax.tree.map(np.testing.assert_array_equal, got, trained)
  wrong = tiny_config(records)
  wrong.generator.width = 16
  wrong.train.update(steps=0, init_generator=str(tmp_path / "a" / "export"))
  with pytest.raises(ValueError, match="another shape"):
    train.train_and_evaluate(wrong, tmp_path / "c")


@pytest.mark.parametrize("exported", ["none", "codec"])
def test_qp_conditioned_generator_starts_from_a_plain_or_codec_export(tmp_path, exported):
  """The missing FiLM table and QP kernel are filled with their zero init; the rest is the
  export's, so the QP-conditioned start computes exactly what the export does."""
  from jaxenhance.models import generator as generator_lib

  cfg = {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1}
  source = generator_lib.make_generator({**cfg, "conditioning": exported})
  x = jax.random.uniform(jax.random.PRNGKey(1), (1, 16, 16, 3))
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                        source.init(jax.random.PRNGKey(0), x))
  export.save_generator(tmp_path, {**cfg, "conditioning": exported}, params)
  target = generator_lib.make_generator({**cfg, "conditioning": "codec_qp"})
  fresh = target.init(jax.random.PRNGKey(3), x)
  state = train.init_generator_from({"g_params": fresh}, tmp_path, {"g_params": None})
  got = jax.device_get(state["g_params"])
  assert not np.any(got["params"]["qp_stem"]["kernel"])
  assert np.any(got["params"]["codec_film"]["embedding"]) == (exported == "codec")
  qp_map = jnp.full((1, 16, 16), 30, jnp.uint8)
  np.testing.assert_array_equal(target.apply(got, x, qp_map=qp_map, codec=jnp.array([1])),
                                source.apply(params, x, codec=jnp.array([1])))
