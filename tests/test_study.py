"""The subjective study (jaxenhance/study): prepare, serve, the page in a real browser, analyze.

One tiny study is prepared once per module through the CLI: two sources x (hidden reference +
two rungs x (compressed, shipped model)) = 10 test trials and 3 practice trials, 160-pixel crops
shown for half a second. The sources are held-out suite items where the suite's packages are
fetched, else scikit-image photos (a pipeline check on a clean machine). The browser test fetches
Debian's Chromium and chromedriver itself (jaxenhance/study/browser.py) and skips, saying why,
only where that is impossible. Set JAXENHANCE_STUDY_README_SHOT=PATH to also write the README's
screenshot.
"""

import itertools
import json
import logging
import math
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from study_helpers import Page, api_participant, call, model_score, rogue_score

from jaxenhance.study import analysis, browser, database, schedule, webapp
from jaxenhance.study import manifest as manifest_lib
from jaxenhance.study.__main__ import main
from jaxenhance.study.manifest import StudyError, Trial

SUITE_ITEMS = ("nature/LadyBird", "plasma/Grey")
RUNGS = ("jpeg_qf10", "h264_qp42")


def _suite_available() -> bool:
  from jaxenhance.suite import items, runner

  try:
    for item in items.items_by_id(list(SUITE_ITEMS)):
      runner.source_path(item)
  except runner.SuiteError:
    return False
  return True


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
  out = tmp_path_factory.mktemp("study") / "study"
  sources = (["--items", ",".join(SUITE_ITEMS)] if _suite_available()
             else ["--sample-photos", "astronaut,chelsea"])
  assert main(["prepare", str(out), *sources, "--rungs", ",".join(RUNGS), "--crop", "160",
               "--seconds", "0.5", "--gap", "0.2", "--model", "shipped=shipped",
               "--title", "Pipeline check"]) == 0
  return out


@pytest.fixture()
def fresh_study(study_dir, tmp_path) -> Path:
  """A copy of the prepared study with no scores yet."""
  return Path(shutil.copytree(study_dir, tmp_path / "study"))


@pytest.fixture()
def server(fresh_study):
  """``(base URL, study folder)`` of a live server on a free port of 127.0.0.1."""
  logging.getLogger("werkzeug").setLevel(logging.ERROR)
  srv = webapp.make_server(fresh_study, port=0)
  thread = threading.Thread(target=srv.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{srv.server_port}", fresh_study
  srv.shutdown()
  srv.server_close()


def _pixels(study: Path, name: str) -> np.ndarray:
  return np.asarray(Image.open(study / "stimuli" / name))


# ---------------------------------------------------------------------------------------------
# prepare: the folder and its manifest.
# ---------------------------------------------------------------------------------------------

def test_prepare_writes_matched_crops_with_checksums(study_dir):
  m = manifest_lib.load(study_dir)  # every stimulus checked against its sha256
  assert m.conditions == ("reference", "compressed", "shipped") and m.rungs == RUNGS
  assert len(m.training_trials) == 3 and len(m.test_trials) == 10
  assert [t.condition for t in m.training_trials] == ["compressed", "reference", "compressed"]
  for item in {t.item for t in m.test_trials}:
    trials = [t for t in m.test_trials if t.item == item]
    assert {(t.condition, t.rung) for t in trials} == {
        ("reference", None), *((c, r) for c in ("compressed", "shipped") for r in RUNGS)}
    assert len({t.reference for t in trials}) == 1  # one reference crop per item
    reference = _pixels(study_dir, trials[0].reference)
    for t in trials:
      test = _pixels(study_dir, t.test)
      assert test.shape == reference.shape == (160, 160, 3)  # matched crops
      if t.condition == "reference":  # the hidden reference: same pixels, not the same file
        assert t.test != t.reference and np.array_equal(test, reference)
      else:
        assert not np.array_equal(test, reference)
  for name, s in m.stimuli.items():  # names are content hashes: they say nothing of conditions
    assert name.startswith(s.sha256[:16])
  ids = [t.id for t in m.trials]
  assert len(set(ids)) == len(ids) and all(i.startswith("t") for i in ids)


def test_prepare_refuses_bad_requests(study_dir, tmp_path, capsys):
  for args, message in [
      (["prepare", str(study_dir)], "not empty"),
      (["prepare", str(tmp_path / "a"), "--rungs", "h264_qp99"], "unknown rung"),
      (["prepare", str(tmp_path / "b"), "--items", "nature/Nope"], "unknown suite item"),
      (["prepare", str(tmp_path / "c"), "--sample-photos", "astronaut", "--model", "shipped"],
       "NAME=CHECKPOINT"),
      (["prepare", str(tmp_path / "d"), "--kind", "clip", "--presentation", "side-by-side"],
       "played in sequence"),
      (["prepare", str(tmp_path / "e"), "--sample-photos", "astronaut", "--model",
        f"mine={tmp_path / 'nowhere'}"], "no such directory"),
  ]:
    assert main(args) == 2
    assert message in capsys.readouterr().err
  assert not list(tmp_path.glob(".*partial*"))  # nothing half-written left behind


# ---------------------------------------------------------------------------------------------
# The order of trials.
# ---------------------------------------------------------------------------------------------

def _trial(i, condition, training=False, item="x"):
  return Trial(f"t{i}", training, item, None if condition == "reference" else "r", condition,
               "a", "b")


def test_order_is_random_with_no_condition_twice_in_a_row():
  trials = [_trial(0, "compressed", True), _trial(1, "reference", True)] + [
      _trial(i, c, item=f"i{i % 3}") for i, c in enumerate(
          ["reference"] * 3 + ["compressed"] * 6 + ["shipped"] * 6, start=2)]
  orders = set()
  for seed in range(300):
    order = schedule.order(trials, seed)
    assert [t.id for t in order[:2]] == ["t0", "t1"]  # practice first, as prepared
    assert sorted(t.id for t in order) == sorted(t.id for t in trials)
    assert all(a.condition != b.condition for a, b in itertools.pairwise(order))
    orders.add(tuple(t.id for t in order))
  assert len(orders) > 250  # randomised per participant
  with pytest.raises(StudyError, match="twice in a row"):
    schedule.order([_trial(0, "reference")] + [_trial(i, "compressed") for i in (1, 2, 3)], 0)


# ---------------------------------------------------------------------------------------------
# analyze: screening, MOS, intervals and paired tests.
# ---------------------------------------------------------------------------------------------

def test_bt500_screening_rejects_inconsistent_not_lenient_observers():
  # 19 observers spread as a normal sample (sd 8) around each presentation's mean, one who is
  # 28 points off on both sides in turn, one who is always 24 points above.
  offsets = stats.norm.ppf((np.arange(19) + 0.5) / 19) * 8
  rows = []
  for p in range(10):
    mean = 20 + 6 * p
    row = {"item": f"i{p}", "rung": "r", "condition": "c"}
    for o, k in enumerate(np.random.default_rng(p).permutation(19)):
      rows.append(dict(row, participant=f"h{o:02d}", score=float(mean + offsets[k])))
    rows.append(dict(row, participant="rogue", score=float(mean + (28 if p % 2 else -28))))
    rows.append(dict(row, participant="lenient", score=float(mean + 24)))
  result = analysis.screen(rows)
  assert result["rogue"]["rejected"] and result["rogue"]["P"] == result["rogue"]["Q"] == 5
  assert result["lenient"]["P"] == 5 and not result["lenient"]["rejected"]  # biased, consistent
  assert not any(result[f"h{o:02d}"]["rejected"] for o in range(19))
  # One wild score among tight ones makes the distribution non-normal (beta2 = 7.1 > 4): the
  # bound widens to sqrt(20) s and that score is not counted, as BT.500 prescribes.
  presentation = {"item": "i", "rung": "r", "condition": "c"}
  tight = [dict(presentation, participant=f"o{o}", score=50.0) for o in range(8)]
  tight.append(dict(presentation, participant="w", score=95.0))
  assert analysis.screen(tight)["w"]["P"] == 0


def test_analyze_reproduces_scores_and_intervals(fresh_study, capsys):
  m = manifest_lib.load(fresh_study)
  db = database.Database(fresh_study / manifest_lib.DATABASE_FILE,
                         manifest_lib.manifest_sha256(fresh_study))
  given = {}
  for observer in range(6):
    pid = db.register(schedule.order(m.trials, observer), observer)
    _, order = db.progress(pid)
    for position, (trial_id, _) in enumerate(order):
      score = model_score(m.trial(trial_id), observer)
      db.record(pid, position, trial_id, score, 500)
      given[pid, trial_id] = score
  unfinished = db.register(schedule.order(m.trials, 99), 99)
  db.record(unfinished, 0, db.progress(unfinished)[1][0][0], 0)  # incomplete: left out

  assert main(["analyze", str(fresh_study), "--no-screening"]) == 0
  printed = capsys.readouterr().out
  results = json.loads((fresh_study / "analysis" / "analysis.json").read_text())
  assert (fresh_study / "analysis" / "mos.png").stat().st_size > 5000
  assert results["participants"] == {"registered": 7, "complete": 6, "analysed": 6,
                                     "rejected": []}
  for condition in m.conditions:  # MOS: per observer means, then a t interval over observers
    means = [np.mean([s for (p, t), s in given.items() if p == pid
                      and m.trial(t).condition == condition and not m.trial(t).training])
             for pid in sorted({p for p, _ in given})]
    got = results["per_condition"][condition]
    assert got["mos"] == pytest.approx(np.mean(means))
    half = stats.t.ppf(0.975, 5) * np.std(means, ddof=1) / math.sqrt(6)
    assert got["ci95"] == pytest.approx(half)
    assert f"| {condition}" in printed
  diff = next(d for d in results["differences"]
              if (d["a"], d["b"], d["rung"]) == ("compressed", "shipped", None))
  by = {}
  for (pid, t), s in given.items():
    trial = m.trial(t)
    if not trial.training and trial.condition in ("compressed", "shipped"):
      by.setdefault(pid, {}).setdefault((trial.item, trial.rung), {})[trial.condition] = s
  paired = [np.mean([k["shipped"] - k["compressed"] for k in keys.values()])
            for keys in by.values()]
  expected = stats.ttest_1samp(paired, 0.0)
  assert diff["mean_difference"] == pytest.approx(np.mean(paired))
  assert diff["p"] == pytest.approx(expected.pvalue) and diff["t"] == pytest.approx(
      expected.statistic)


# ---------------------------------------------------------------------------------------------
# Bad input and safety.
# ---------------------------------------------------------------------------------------------

def test_api_refuses_traversal_bad_scores_replays_and_strangers(server):
  base, study = server
  m = manifest_lib.load(study)
  secret = (study / "manifest.json").read_text()[:40]
  for path in ["/stimuli/../manifest.json", "/stimuli/..%2fmanifest.json",
               "/stimuli/%2e%2e%2fresults.sqlite", "/stimuli/manifest.json",
               "/stimuli/" + next(iter(m.stimuli)).upper(), "/page/..%2f__init__.py",
               "/page/__init__.py", "/stimuli/%2fetc%2fpasswd", "/../manifest.json"]:
    status, answer = call(base, "GET", path)
    assert status == 404 and secret not in json.dumps(answer), path

  status, state = call(base, "POST", "/api/participants", {})
  assert status == 201
  pid, position, trial = state["participant"], 0, state["trial"]["id"]
  url = f"/api/participants/{pid}/scores"
  ok = {"position": position, "trial": trial, "score": 50}
  for bad in [-1, 100.01, "50", None, True, [50], 1e309]:
    status, answer = call(base, "POST", url, dict(ok, score=bad))
    assert status == 400 and "score" in answer["error"], bad
  for raw in [b'{"position": 0, "trial": "%s", "score": NaN}' % trial.encode(),
              b'{"position": 0, "trial": "x", "score": Infinity}']:
    assert call(base, "POST", url, raw=raw)[0] == 400
  assert call(base, "POST", url, {"position": 0, "trial": trial})[1]["error"].startswith(
      "no score given")
  assert call(base, "POST", url, ok, content_type="text/plain")[0] == 415
  assert call(base, "POST", url, raw=b'{"pad": "' + b"x" * 20000 + b'"}')[0] == 413
  assert call(base, "POST", url, dict(ok, trial="t999"))[0] == 409
  assert call(base, "POST", url, dict(ok, position=1))[0] == 409
  assert call(base, "POST", url, dict(ok, position="0"))[0] == 400
  status, answer = call(base, "POST", "/api/participants/pnobody/scores", ok)
  assert status == 404 and "does not exist" in answer["error"]
  assert call(base, "GET", "/api/participants/pnobody")[0] == 404

  assert call(base, "POST", url, dict(ok, score=0))[0] == 200  # the scale's ends are valid
  status, answer = call(base, "POST", url, dict(ok, score=70))  # a replay
  assert status == 409 and "already scored" in answer["error"]

  # Two windows of one participant submitting the same trial at once: one score lands.
  state = call(base, "GET", f"/api/participants/{pid}")[1]
  same = {"position": state["position"], "trial": state["trial"]["id"], "score": 90}
  statuses = []
  threads = [threading.Thread(target=lambda: statuses.append(call(base, "POST", url, same)[0]))
             for _ in range(8)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert sorted(statuses) == [200] + [409] * 7
  with sqlite3.connect(study / manifest_lib.DATABASE_FILE) as db:
    assert db.execute("SELECT position, score FROM scores WHERE participant = ? ORDER BY "
                      "position", (pid,)).fetchall() == [(0, 0.0), (1, 90.0)]


def test_database_is_never_half_written(tmp_path):
  db = database.Database(tmp_path / "r.sqlite", "abc")
  good = [_trial(0, "reference"), _trial(1, "compressed")]
  broken = [good[0], Trial(None, False, "x", "r", "compressed", "a", "b")]  # NOT NULL fails
  with pytest.raises(sqlite3.IntegrityError):
    db.register(broken, 0)
  assert db.participants() == []  # the participant row was rolled back with the order
  pid = db.register(good, 0)
  with pytest.raises(database.BadScore):
    db.record(pid, 0, "t0", float("nan"))
  assert db.rows() == [] and db.record(pid, 0, "t0", 12.5) == 1
  with pytest.raises(StudyError, match="different manifest"):
    database.Database(tmp_path / "r.sqlite", "another manifest")


def test_a_changed_study_folder_is_refused(fresh_study, capsys):
  m = manifest_lib.load(fresh_study)
  victim = fresh_study / "stimuli" / next(iter(m.stimuli))
  data = bytearray(victim.read_bytes())
  data[-20] ^= 0xFF
  victim.write_bytes(bytes(data))
  for command in (["serve", str(fresh_study), "--port", "0"], ["analyze", str(fresh_study)]):
    assert main(command) == 2
    assert f"stimulus {victim} fails its checksum" in capsys.readouterr().err
  victim.unlink()
  with pytest.raises(StudyError, match="cannot be read"):
    webapp.create_app(fresh_study)
  text = (fresh_study / "manifest.json").read_text()
  (fresh_study / "manifest.json").write_text(text.replace(victim.name, "../../etc/passwd"))
  with pytest.raises(StudyError, match="first 16 hex digits"):
    manifest_lib.load(fresh_study)


# ---------------------------------------------------------------------------------------------
# The page in a real browser.
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
  try:
    return browser.ensure(allow_unpinned=True)
  except browser.BrowserError as exc:
    pytest.skip(f"no headless Chromium on this machine: {exc}")


def _readme_shot(shots: Path, out: Path) -> None:
  """The README's picture: the header, A and B side by side, then the scored scale; at 80 %."""
  def crop(name, box):
    return Image.open(shots / f"{name}.png").convert("RGB").crop(box)

  rows = [crop("06-vote-scored", (0, 0, 1000, 46)), crop("02-reference", (250, 50, 750, 290)),
          crop("04-test", (250, 50, 750, 290)), crop("06-vote-scored", (0, 50, 1000, 330))]
  sheet = Image.new("RGB", (1000, 46 + 240 + 280), (128, 128, 128))
  for image, place in zip(rows, [(0, 0), (0, 46), (500, 46), (0, 286)], strict=True):
    sheet.paste(image, place)
  out.parent.mkdir(parents=True, exist_ok=True)
  sheet.resize((800, 453), Image.LANCZOS).save(out, optimize=True)


def test_scripted_participants_complete_the_study_in_chromium(chromium, server, tmp_path,
                                                              capsys):
  base, study = server
  m = manifest_lib.load(study)
  shots = tmp_path / "screenshots"
  shots.mkdir()
  driver = chromium.driver(profile=tmp_path / "profile")
  submitted: dict[int, int] = {}  # position -> score the page showed when Next was pressed
  try:
    page = Page(driver, shots)
    driver.get(base + "/")
    page.wait("welcome")
    page.shot("01-welcome")
    page.element("start").click()  # mouse

    # Practice trial 1: every state, the scale by mouse, nothing proceeds without a score.
    page.wait("reference")
    page.shot("02-reference")
    page.wait("gap")
    page.shot("03-gap")
    page.wait("test")
    page.shot("04-test")
    page.wait("vote")
    page.shot("05-vote-empty")
    assert not page.element("submit").is_enabled()
    page.element("scale").send_keys("\ue007")  # Enter without a score: nothing happens
    assert page.wait("vote") == "vote" and page.attr("position") == "0"
    submitted[0] = page.score_with_mouse(model_score(m.trial(page.attr("trial"))))
    page.shot("06-vote-scored")
    page.element("submit").click()
    page.wait("reference")

    def keyboard_trial(expect_position: int) -> None:
      page.wait("vote")
      assert page.attr("position") == str(expect_position)
      score = model_score(m.trial(page.attr("trial")))
      page.score_with_keys(score)
      submitted[expect_position] = score
      page.element("scale").send_keys("\ue007")  # Enter
      page.wait("reference", "gap", "test", "done")

    for position in range(1, 4):
      keyboard_trial(position)

    # Close the tab mid-trial and come back: the page resumes at the first unscored trial.
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.switch_to.window(first)
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.get(base + "/")
    page.wait("welcome")
    assert page.element("start").text == "Continue (4 of 13 scored)"
    page.shot("07-resume")
    page.element("start").send_keys("\ue007")  # keyboard
    keyboard_trial(4)

    # A second window of the same participant: both reach the same trial, one score counts.
    one = driver.current_window_handle
    page.wait("vote")
    driver.switch_to.new_window("tab")
    driver.get(base + "/")
    page.wait("welcome")
    page.element("start").click()
    page.wait("vote")
    two_trial, two_position = page.attr("trial"), page.attr("position")
    driver.switch_to.window(one)
    assert (page.attr("trial"), page.attr("position")) == (two_trial, two_position)
    keyboard_trial(int(two_position))
    driver.switch_to.window(driver.window_handles[-1])
    page.score_with_keys(3)
    page.element("submit").click()
    page.wait("reference")
    assert "already scored" in page.element("message").text
    assert page.attr("position") == str(int(two_position) + 1)
    page.shot("08-second-window-refused")
    driver.switch_to.window(one)
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    for position in range(int(two_position) + 1, 13):
      keyboard_trial(position)
    page.wait("done")
    page.shot("09-done")

    driver.get(base + "/#p=pnobody")
    page.wait("error")
    assert "does not exist" in page.element("message").text
    page.shot("10-unknown-participant")
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and " 409 " not in e["message"] and " 404 " not in e["message"]]
    assert severe == []
  finally:
    driver.quit()
  assert sorted(p.name for p in shots.iterdir()) == sorted(
      f"{n}.png" for n in ["01-welcome", "02-reference", "03-gap", "04-test", "05-vote-empty",
                           "06-vote-scored", "07-resume", "08-second-window-refused",
                           "09-done", "10-unknown-participant"])
  if os.environ.get("JAXENHANCE_STUDY_README_SHOT"):
    _readme_shot(shots, Path(os.environ["JAXENHANCE_STUDY_README_SHOT"]))

  # The scores landed in SQLite exactly as the page showed them, once per trial.
  with sqlite3.connect(study / manifest_lib.DATABASE_FILE) as db:
    rows = db.execute("SELECT participant, position, score, response_ms FROM scores "
                      "ORDER BY position").fetchall()
  assert len({r[0] for r in rows}) == 1
  assert {r[1]: int(r[2]) for r in rows} == submitted and len(submitted) == 13
  assert all(r[3] is not None and r[3] >= 0 for r in rows)
  browser_pid = rows[0][0]

  # More scripted observers through the API (noisy and one inconsistent), then analyze.
  given = {browser_pid: {}}
  with sqlite3.connect(study / manifest_lib.DATABASE_FILE) as db:
    for trial, score in db.execute("SELECT trial, score FROM scores"):
      given[browser_pid][trial] = score
  for observer in range(14):
    pid, scores = api_participant(base, m, lambda t, _, o=observer: model_score(t, o))
    given[pid] = scores
  rogue, _ = api_participant(base, m, rogue_score)
  capsys.readouterr()
  assert main(["analyze", str(study)]) == 0
  table = capsys.readouterr().out
  results = json.loads((study / "analysis" / "analysis.json").read_text())
  assert results["participants"]["rejected"] == [rogue]
  kept = [p for p in given if p != rogue]
  for condition in m.conditions:
    means = [np.mean([s for t, s in given[p].items() if not m.trial(t).training
                      and m.trial(t).condition == condition]) for p in kept]
    assert results["per_condition"][condition]["mos"] == pytest.approx(np.mean(means))
    assert results["per_condition"][condition]["n"] == 15
  (tmp_path / "analysis-table.md").write_text(table)
  print(table)  # for the report: pytest -s shows the pipeline check's table


@pytest.mark.parametrize("kind", ["clip", "side-by-side"])
def test_clips_play_whole_and_pairs_show_together(chromium, tmp_path, kind):
  study = tmp_path / kind
  layout = (["--kind", "clip", "--clip-frames", "8"] if kind == "clip"
            else ["--presentation", "side-by-side"])
  assert main(["prepare", str(study), "--sample-photos", "astronaut", "--rungs", "jpeg_qf10",
               "--crop", "64", "--training", "0", "--seconds", "0.4", "--gap", "0.3",
               *layout]) == 0
  logging.getLogger("werkzeug").setLevel(logging.ERROR)
  srv = webapp.make_server(study, port=0)
  threading.Thread(target=srv.serve_forever, daemon=True).start()
  driver = chromium.driver()
  try:
    page = Page(driver, tmp_path)
    driver.get(f"http://127.0.0.1:{srv.server_port}/")
    page.wait("welcome")
    page.element("start").click()
    for position in range(3):
      if kind == "clip":
        page.wait("reference")
        video = "document.querySelector('#slot-a video')"
        assert driver.execute_script(f"return {video}.controls") is False
        page.element("viewer").click()  # neither a click nor a key skips or pauses playback
        driver.switch_to.active_element.send_keys(" \ue007")
        assert page.attr("state") == "reference" or driver.execute_script(
            f"return {video}.ended")
        page.wait("gap")
        assert driver.execute_script(f"return {video}.ended")  # A was played to its end
        page.wait("vote")
        assert driver.execute_script("return document.querySelector('#slot-b video').ended")
      else:
        page.wait("pair")
        assert page.element("slot-a").is_displayed() and page.element("slot-b").is_displayed()
        page.wait("vote")
        assert page.element("slot-b").is_displayed()  # still visible while scoring
      if position == 0:
        page.shot(f"{kind}-vote")
      page.score_with_keys(40 + position)
      page.element("submit").click()
      page.wait("reference", "pair", "done")
    page.wait("done")
  finally:
    driver.quit()
    srv.shutdown()
    srv.server_close()
  with sqlite3.connect(study / manifest_lib.DATABASE_FILE) as db:
    assert sorted(s for (s,) in db.execute("SELECT score FROM scores")) == [40, 41, 42]
