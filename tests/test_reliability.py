"""Reliability under faults: kills, SIGTERM, a second trainer, non-finite updates, corrupt shards,
a full disk, and config names that try to leave their directory.

The long kill/resume sweep (8 kill points) and the bad-input corpus are scripts:
``benchmarks/reliability/kill_resume.py`` and ``benchmarks/reliability/bad_input_corpus.py``.
Covered elsewhere (not repeated here): a truncated newest checkpoint falls back, the lock and the
config mismatch in-process (``test_train.py``); a NaN batch is skipped (``test_steps.py``);
pickles that run code are refused (``test_assets.py``, ``test_inception.py``); interrupted and
failed record builds (``test_records.py``); bad video/image inputs to enhance
(``test_enhance.py``) and to the sources (``test_sources.py``).
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import reliability_helpers as h

from jaxenhance import checkpointing, train
from jaxenhance.data import builder, pipeline, records, sources
from jaxenhance.data import layout

ROOT = h.ROOT


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records")
  builder.build(h.get_config(str(workdir / "records")), workdir, num_workers=1)
  return workdir / "records"


def _log(path: Path) -> str:
  return path.read_text(errors="replace") if path.is_file() else ""


# ---------------------------------------------------------------------------------------------
# Preemption, crashes and a second trainer: real CLI subprocesses.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_second_trainer_refused_sigkill_sigterm_then_identical_result(records_dir, tmp_path):
  """One work directory through: a second trainer (refused), SIGKILL, SIGTERM, resume.

  The end state and every batch consumed (replays included) equal an uninterrupted run's.
  """
  work = tmp_path / "run"
  batches = tmp_path / "run.batches"
  log_arg = f"--config.train.batch_log={batches}"

  # 1. A trainer runs; a second one on the same directory must refuse while it does.
  first = h.start_trainer(records_dir, work, "--config.train.steps=1000", log_arg)
  assert h.wait_for(lambda: (work / "config.json").is_file(), first, timeout=600), \
      _log(work.with_suffix(".log"))
  config_before = (work / "config.json").read_bytes()
  second = subprocess.run(h.train_command(records_dir, work, "--config.train.steps=1000"),
                          cwd=ROOT, env=h.subprocess_env(), capture_output=True, text=True,
                          timeout=600, check=False)
  assert first.poll() is None, "the first trainer ended before the second one was checked"
  assert second.returncode == 2, second.stderr[-2000:]
  assert "another trainer is using" in second.stderr and "Traceback" not in second.stderr
  assert (work / "config.json").read_bytes() == config_before

  # 2. SIGKILL the first wherever it is (at least one batch in).
  assert h.wait_for(lambda: len(h.batch_lines(batches)) >= 1, first, timeout=600)
  first.send_signal(signal.SIGKILL)
  first.wait()
  killed_at = len(h.batch_lines(batches))
  steps = killed_at + 4  # the length of the whole run, decided now that the kill point is known

  # 3. Resume; SIGTERM once it has consumed a new batch: it saves that step and exits 0.
  resumed = h.start_trainer(records_dir, work, f"--config.train.steps={steps}", log_arg)
  assert h.wait_for(lambda: len(h.batch_lines(batches)) > killed_at, resumed, timeout=600)
  reference = h.start_trainer(records_dir, tmp_path / "reference",
                              f"--config.train.steps={steps}",
                              f"--config.train.batch_log={tmp_path / 'reference.batches'}")
  resumed.send_signal(signal.SIGTERM)
  assert resumed.wait(timeout=600) == 0, _log(work.with_suffix(".log"))[-3000:]
  last = h.batch_lines(batches)[-1][0]
  assert f"SIGTERM received: checkpoint {last} saved" in _log(work.with_suffix(".log"))
  assert h.checkpoint_steps(work)[-1] == last

  # 4. Resume to the end; compare with the uninterrupted reference.
  assert h.start_trainer(records_dir, work, f"--config.train.steps={steps}",
                         log_arg).wait(timeout=900) == 0
  assert reference.wait(timeout=900) == 0
  assert f"resumed from checkpoint step {last}" in _log(work.with_suffix(".log"))
  ref_batches = dict(h.batch_lines(tmp_path / "reference.batches"))
  assert sorted(ref_batches) == list(range(1, steps + 1))
  consumed = h.batch_lines(batches)
  assert {s for s, _ in consumed} == set(ref_batches)
  assert [s for s, d in consumed if ref_batches[s] != d] == []
  assert h.state_digests(work) == h.state_digests(tmp_path / "reference")
  assert not [p for p in (work / "checkpoints").iterdir() if "tmp" in p.name]


# ---------------------------------------------------------------------------------------------
# Numerical faults at the trainer level.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_nonfinite_update_raises_or_skips_and_checkpoints_stay_good(records_dir, tmp_path):
  """An infinite generator learning rate: the loss is finite but the updated parameters are not.

  This models a divergence or an overflowing gradient that poisons the parameters in one update
  (a NaN *loss* from a bad batch is covered in ``test_steps.py``). Such an update must never be
  kept: ``raise`` stops with a clear error and the last checkpoint intact, ``skip`` carries on
  with the parameters of before and counts the skipped updates; a later run with a fixed
  learning rate resumes from there.
  """
  config = h.get_config(str(records_dir))
  config.train.steps = 3
  train.train_and_evaluate(config, tmp_path)
  good = h.state_digests(tmp_path, 3)

  bad = h.get_config(str(records_dir))
  bad.train.lr_generator = float("inf")
  with pytest.raises(train.NonFiniteLossError, match=r"non-finite loss .* step 4 .*intact"):
    train.train_and_evaluate(bad, tmp_path)
  assert h.checkpoint_steps(tmp_path) == [3] and h.state_digests(tmp_path, 3) == good

  bad.train.nonfinite = "skip"
  summary = train.train_and_evaluate(bad, tmp_path)
  state = jax.device_get(summary["state"])
  assert summary["last_step"] == 6 and int(state["nonfinite"]) == 3
  after = h.state_digests(tmp_path, 6)
  for key in ("g_params", "d_params", "g_opt", "d_opt"):  # every update of steps 4-6 skipped
    assert after[key] == good[key], key
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["g_params"]))

  # The counter in the checkpoint is 3; a run with a sane learning rate must not be refused.
  fixed = h.get_config(str(records_dir))
  fixed.train.steps = 8
  summary = train.train_and_evaluate(fixed, tmp_path)
  assert summary["first_step"] == 6 and summary["last_step"] == 8
  assert h.state_digests(tmp_path, 8)["g_params"] != good["g_params"]


# ---------------------------------------------------------------------------------------------
# Corrupt state.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_newest_checkpoint_is_set_aside_and_saved_over(records_dir, tmp_path, capfd,
                                                              damage):
  """Issue 17.1: after falling back over an unreadable newest checkpoint the run must save over
  it (Orbax declines a save at or below its newest step, so the corrupt step used to block every
  save up to it, silently), report the fallback once, and end where an uninterrupted run ends."""
  config = h.get_config(str(records_dir))
  train.train_and_evaluate(config, tmp_path)  # checkpoints 3 and 6
  reference = h.state_digests(tmp_path, 6)
  h.damage_checkpoint(tmp_path / "checkpoints" / "6", damage)
  capfd.readouterr()

  summary = train.train_and_evaluate(config, tmp_path)
  out = capfd.readouterr()
  assert summary["first_step"] == 3 and summary["last_step"] == 6
  assert h.checkpoint_steps(tmp_path) == [3, 6]
  assert h.state_digests(tmp_path, 6) == reference  # saved again, bit-identical
  assert "Event loop is closed" not in out.err + out.out
  assert out.out.count("warning: checkpoint") == 1, out.out
  assert summary["checkpoint_fallback"]["unreadable"] == [6]
  assert summary["checkpoint_fallback"]["resumed_from"] == 3
  assert (tmp_path / "checkpoints.unreadable" / "6").is_dir()


def test_a_declined_checkpoint_save_stops_the_run(tmp_path):
  """Issue 17.1: Orbax's ``save`` returns False instead of saving a step at or below its newest;
  the trainer must not carry on as if it had saved."""
  import grain

  checkpointer = checkpointing.Checkpointer(tmp_path / "checkpoints", async_save=False)
  data = iter(grain.MapDataset.range(4).to_iter_dataset())
  checkpointer.save(5, {"x": np.zeros(3)}, data)
  with pytest.raises(checkpointing.CheckpointSaveError, match="checkpoint 3 was not saved"):
    checkpointer.save(3, {"x": np.ones(3)}, data)
  checkpointer.close()
  assert h.checkpoint_steps(tmp_path) == [5]


@pytest.mark.parametrize("damage", ["garble", "truncate"])
def test_corrupt_record_shard_error_names_the_shard(records_dir, tmp_path, damage):
  copy = tmp_path / "records"
  shutil.copytree(records_dir, copy)
  shard = next(copy.rglob("*-train.array_record-*"))
  data = bytearray(shard.read_bytes())
  if damage == "garble":
    data[len(data) // 3:len(data) // 3 + 4000] = bytes(b ^ 0x5A for b in
                                                        data[len(data) // 3:len(data) // 3 + 4000])
  else:
    data = data[:len(data) // 2]
  shard.write_bytes(bytes(data))
  config = h.get_config(str(copy))
  batches = iter(pipeline.make_dataset(config, copy, split="train"))
  with pytest.raises(pipeline.PipelineError, match="corrupt or truncated") as info:
    for _ in range(10):  # 36 records, batches of 8: every record is read within 5 batches
      next(batches)
  assert shard.name in str(info.value) and "rebuild the records" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Storage faults: a real full file system (tmpfs) where possible, else a file size limit.
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(path: Path, size: str):
  """Yields ``(directory, preexec_fn)``: a tmpfs of ``size`` mounted at ``path`` (root), or, where
  mounting is not allowed, the plain directory plus a child-process file-size limit."""
  path.mkdir(parents=True, exist_ok=True)
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, check=False).returncode == 0
  if mounted:
    try:
      yield path, None
    finally:
      subprocess.run(["umount", str(path)], check=False)
    return

  limit = int(size.rstrip("k")) * 1024

  def limit_file_size():
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

  yield path, limit_file_size


_BUILD = r"""
import sys
sys.path.insert(0, "tests")
import reliability_helpers as h
from jaxenhance.data import builder
builder.build(h.get_config(sys.argv[1]), sys.argv[2], num_workers=1)
"""


def test_records_onto_a_full_disk_fail_clearly_and_leave_nothing(tmp_path):
  with small_disk(tmp_path / "disk", "200k") as (disk, preexec):
    out = subprocess.run([sys.executable, "-c", _BUILD, str(disk / "records"), str(disk)],
                         cwd=ROOT, env=h.subprocess_env(), capture_output=True, text=True,
                         timeout=600, preexec_fn=preexec, check=False)
    assert out.returncode != 0
    assert "No space left on device" in out.stderr or "File too large" in out.stderr, \
        out.stderr[-2000:]
    assert not [p for p in disk.rglob("*") if p.is_file()]  # no shard, no dataset_info.json
    assert not [p for p in disk.rglob("*") if layout.is_complete(p)]


def test_enhanced_video_onto_a_full_disk_fails_clearly_and_leaves_nothing(tmp_path):
  from jaxenhance import assets, export
  from jaxenhance.models import generator as generator_lib

  config = h.get_config()
  generator = generator_lib.make_generator(config.generator)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  export.save_generator(tmp_path / "export", config.generator, params)
  source = assets.sample_clip_path("carphone")
  before = h.file_digest(source)
  with small_disk(tmp_path / "disk", "64k") as (disk, preexec):
    out = subprocess.run(
        [sys.executable, "-m", "jaxenhance.enhance", str(source), str(disk / "out.mp4"),
         f"--checkpoint={tmp_path / 'export'}", "--qp=0", "--preset=ultrafast",
         "--no-progress"], cwd=ROOT, env=h.subprocess_env(), capture_output=True, text=True,
        timeout=600, preexec_fn=preexec, check=False)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "No space left on device" in out.stderr or "File too large" in out.stderr, \
        out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert list(disk.iterdir()) == []  # neither out.mp4 nor its .partial file
  assert h.file_digest(source) == before


# ---------------------------------------------------------------------------------------------
# Untrusted config values: names must not become paths outside their directory.
# ---------------------------------------------------------------------------------------------

def _sample_clip(tmp_path, records_dir):
  sources.resolve_sources(["sample:../../../outside"], max_frames=2, max_height=32)


def _sample_photos(tmp_path, records_dir):
  sources.resolve_sources(["photos:../outside"], max_frames=2, max_height=32)


def _dataset_name(tmp_path, records_dir):
  config = h.get_config(str(tmp_path / "work" / "records"))
  config.data.dataset_name = "../../outside"
  builder.build(config, tmp_path / "work")


def _split_name(tmp_path, records_dir):
  pipeline.data_source(pipeline.dataset_dir(h.get_config(), records_dir), "../../outside")


@pytest.mark.parametrize("call,error", [
    (_sample_clip, sources.SourceError), (_sample_photos, sources.SourceError),
    (_dataset_name, records.RecordError), (_split_name, pipeline.PipelineError)])
def test_names_in_configs_cannot_leave_their_directory(tmp_path, records_dir, call, error):
  """Decision (README): values meant as *paths* (data_dir, selection.report, --workdir, enhance
  IN/OUT, --output) are used as given, shared records and gs:// included. Values that are
  *names* (sample clips and photos, the dataset name, a split) and end up in paths must not
  escape: they are checked against the known names before anything is read or created."""
  with pytest.raises(error, match="unknown|only|not in|dataset_name"):
    call(tmp_path, records_dir)
  assert not (tmp_path / "outside").exists() and not (tmp_path.parent / "outside").exists()
  assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_overwrite_deletes_only_the_checkpoints_inside_the_workdir(tmp_path):
  """``--overwrite`` deletes ``<workdir>/checkpoints``; if that is a symbolic link to somewhere
  else, it refuses rather than deleting through it."""
  outside = tmp_path / "elsewhere"
  outside.mkdir()
  (outside / "precious").write_text("keep me")
  work = tmp_path / "work"
  work.mkdir()
  config = h.get_config()
  checkpointing.check_config(work, config)
  (work / "checkpoints").symlink_to(outside, target_is_directory=True)
  other = h.get_config()
  other.generator.width = 12
  with pytest.raises(checkpointing.ConfigMismatchError, match="different config"):
    checkpointing.check_config(work, other)
  with pytest.raises(OSError, match="symbolic link"):
    checkpointing.check_config(work, other, overwrite=True)
  assert (outside / "precious").read_text() == "keep me"


# ---------------------------------------------------------------------------------------------
# Planted files and links in an output directory (issue 17.2): temporary files are new files
# with random names (O_EXCL), so nothing planted beforehand is written through.
# ---------------------------------------------------------------------------------------------

def _plant_link(directory: Path, name: str, victim: Path) -> Path:
  link = directory / name
  link.symlink_to(victim)
  return link


def test_a_planted_link_at_a_temporary_name_is_never_written_through(tmp_path, monkeypatch):
  """Even a planted link at the very name the helper draws is refused, not followed."""
  from jaxenhance import atomic_write

  victim = tmp_path / "victim"
  victim.write_text("keep me")
  monkeypatch.setattr(atomic_write.secrets, "token_hex", lambda n: "0" * (2 * n))
  _plant_link(tmp_path, f"out.partial-{'0' * 12}.json", victim)
  with pytest.raises(FileExistsError, match="could not create a new temporary file"):
    atomic_write.write_text(tmp_path / "out.json", "{}")
  assert victim.read_text() == "keep me" and not (tmp_path / "out.json").exists()


def test_evaluate_results_do_not_follow_a_planted_link(tmp_path):
  from jaxenhance import evaluate

  victim = tmp_path / "victim"
  victim.write_text("keep me")
  out = tmp_path / "eval"
  out.mkdir()
  for name in (".results.json.tmp", ".results.md.tmp"):  # the fixed names used before
    _plant_link(out, name, victim)
  row = {"count": 2, "bits_per_pixel": 1.0, "psnr": 30.0}
  results = {"count": 2, "sizes": [[16, 16]], "overall": {"compressed": row, "enhanced": row},
             "groups": {"rung": {"jpeg_qf10": {"compressed": row, "enhanced": row}}}}
  evaluate.write_results(results, out)
  assert victim.read_text() == "keep me"
  assert json.loads((out / "results.json").read_text())["count"] == 2
  assert not list(out.glob("*.partial-*"))


def test_the_config_record_does_not_follow_a_planted_link(tmp_path):
  victim = tmp_path / "victim"
  victim.write_text("keep me")
  work = tmp_path / "work"
  work.mkdir()
  _plant_link(work, "config.json.tmp", victim)  # the fixed name used before
  checkpointing.check_config(work, h.get_config())
  assert victim.read_text() == "keep me"
  assert json.loads((work / "config.json").read_text())["seed"] is not None


def test_an_enhanced_image_does_not_follow_a_planted_link(tmp_path):
  """The old temporary name, ``OUT.partial-<pid>.<ext>``, was guessable."""
  from PIL import Image

  from jaxenhance import enhance
  from jaxenhance.models import generator as generator_lib

  config = h.get_config()
  generator = generator_lib.make_generator(config.generator)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  source = tmp_path / "in.png"
  Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(source)
  victim = tmp_path / "victim"
  victim.write_text("keep me")
  out_dir = tmp_path / "out"
  out_dir.mkdir()
  _plant_link(out_dir, f"enhanced.partial-{os.getpid()}.png", victim)
  enhance.enhance_image(source, out_dir / "enhanced.png", generator, params)
  assert victim.read_text() == "keep me"
  assert Image.open(out_dir / "enhanced.png").size == (16, 16)
  assert sorted(p.name for p in out_dir.iterdir()) == [
      f"enhanced.partial-{os.getpid()}.png", "enhanced.png"]  # the planted link, untouched


# ---------------------------------------------------------------------------------------------
# prepare on awkward footage (issue 17.4): real files through the real CLI.
# ---------------------------------------------------------------------------------------------

def _prepare(spec: str, workdir: Path, *overrides: str) -> subprocess.CompletedProcess:
  config = ROOT / "benchmarks" / "reliability" / "corpus_config.py"
  return subprocess.run([sys.executable, "-m", "jaxenhance.prepare", f"--config={config}:{spec}",
                         f"--workdir={workdir}", *overrides], cwd=ROOT, env=h.subprocess_env(),
                        capture_output=True, text=True, timeout=600, check=False)


def _write_video(path: Path, frames: np.ndarray) -> None:
  import av

  with av.open(str(path), "w") as out:
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    for rgb in frames:
      out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
    out.mux(stream.encode())


def test_prepare_on_a_flat_clip_says_so_in_one_line(tmp_path):
  """Every patch of a flat clip is dropped by ``skip_flat_std``; TFDS then failed with a bare
  ``AssertionError: No examples were yielded`` (exit 1)."""
  clip = tmp_path / "flat.mp4"
  _write_video(clip, np.full((6, 144, 176, 3), 120, np.uint8))
  out = _prepare(f"file:{clip}", tmp_path / "work")
  assert out.returncode == 2, out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  assert "the train split has no patches" in out.stderr and "skip_flat_std" in out.stderr
  assert not [p for p in (tmp_path / "work").rglob("*") if layout.is_complete(p)]


def test_one_unreadable_file_in_a_dir_source_can_be_skipped(tmp_path):
  folder = tmp_path / "videos"
  folder.mkdir()
  _write_video(folder / "good.mp4", sources.sample_clip("carphone", max_frames=6).frames)
  (folder / "broken.mp4").write_text("not a video\n")

  refused = _prepare(f"dir:{folder}", tmp_path / "a")
  assert refused.returncode == 2 and "Traceback" not in refused.stderr
  assert "broken.mp4" in refused.stderr and "data.skip_unreadable=True" in refused.stderr

  skipped = _prepare(f"dir:{folder}", tmp_path / "b", "--config.data.skip_unreadable=True")
  assert skipped.returncode == 0, skipped.stderr[-2000:]
  assert "skipping broken.mp4" in skipped.stderr
  summary = json.loads((tmp_path / "b" / "prepare_summary.json").read_text())
  assert summary["splits"]["train"]["examples"] > 0


# ---------------------------------------------------------------------------------------------
# Smaller CLI items (issue 17.6).
# ---------------------------------------------------------------------------------------------

def test_the_main_job_on_a_locked_workdir_says_so_in_one_line(tmp_path):
  lock = checkpointing.WorkdirLock(tmp_path).acquire()
  try:
    out = subprocess.run(
        [sys.executable, "-m", "jaxenhance.run",
         f"--config={ROOT / 'tests' / 'reliability_helpers.py'}",
         "--config.run.stages=('train',)", f"--workdir={tmp_path}"], cwd=ROOT,
        env=h.subprocess_env(), capture_output=True, text=True, timeout=600, check=False)
  finally:
    lock.release()
  assert out.returncode == 2, out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  assert "jaxenhance run: error in stage train: another trainer is using" in out.stderr


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
  from jaxenhance import export
  from jaxenhance.models import generator as generator_lib

  config = h.get_config()
  params = generator_lib.make_generator(config.generator).init(
      jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  return export.save_generator(tmp_path_factory.mktemp("export"), config.generator, params)


def _enhance(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "jaxenhance.enhance", *map(str, args),
                         "--no-progress", "--preset=ultrafast"], cwd=ROOT,
                        env=h.subprocess_env(), capture_output=True, text=True, timeout=600,
                        check=False)


def test_enhance_replaces_an_existing_output_only_with_notice_or_not_at_all(tmp_path,
                                                                           tiny_export):
  from PIL import Image

  source = tmp_path / "in.png"
  Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(source)
  out = tmp_path / "out.png"
  out.write_bytes(b"earlier result")
  refused = _enhance(source, out, f"--checkpoint={tiny_export}", "--no-clobber")
  assert refused.returncode == 2 and "--no-clobber" in refused.stderr
  assert out.read_bytes() == b"earlier result"
  replaced = _enhance(source, out, f"--checkpoint={tiny_export}")
  assert replaced.returncode == 0, replaced.stderr[-2000:]
  assert f"replaced the existing {out}" in replaced.stdout
  assert Image.open(out).size == (16, 16)


def test_enhance_max_frames_0_is_refused_as_such(tmp_path, tiny_export):
  """It used to say that the video stream holds no decodable frames."""
  from jaxenhance import assets

  done = _enhance(assets.sample_clip_path("carphone"), tmp_path / "o.mp4",
                  f"--checkpoint={tiny_export}", "--max-frames=0")
  assert done.returncode == 2, done.stderr[-2000:]
  assert "--max-frames must be at least 1, got 0" in done.stderr
  assert list(tmp_path.iterdir()) == []
