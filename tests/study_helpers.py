"""Scripted participants for tests/test_study.py: a deterministic observer model, a participant
that drives the real page in headless Chromium, and participants that use the HTTP API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zlib

import numpy as np

# The observer model: a score per (condition, rung), an offset per item, then per observer a
# bias and noise (seeded by observer and trial, so every run scores alike whatever the order).
BASE = {("reference", None): 86, ("compressed", "jpeg_qf10"): 30, ("shipped", "jpeg_qf10"): 38,
        ("compressed", "h264_qp42"): 45, ("shipped", "h264_qp42"): 52}


def model_score(trial, observer: int | None = None, noise: float = 8.0) -> int:
  """The scripted score of ``trial`` (a manifest Trial): the rule, plus bias and noise for
  ``observer`` (None: the noise-free observer the browser plays)."""
  value = BASE.get((trial.condition, trial.rung), 50) + (zlib.crc32(trial.item.encode()) % 7 - 3)
  if observer is not None:
    rng = np.random.default_rng([observer, zlib.crc32(trial.id.encode())])
    value += np.random.default_rng(observer).uniform(-4, 4) + rng.normal(0, noise)
  return int(np.clip(round(value), 0, 100))


def rogue_score(trial, position: int) -> int:
  """An inconsistent observer: 25 points off the rule, above or below by trial (not by
  position: orders are random, and the screening's outcome must not be)."""
  return int(np.clip(model_score(trial) + (25 if zlib.crc32(trial.id.encode()) % 2 else -25),
                     0, 100))


# ---------------------------------------------------------------------------------------------
# The HTTP API.
# ---------------------------------------------------------------------------------------------

def call(base: str, method: str, path: str, body=None, content_type="application/json",
         raw: bytes | None = None) -> tuple[int, dict]:
  """``(status, JSON answer)`` of one request to the study server."""
  data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
  request = urllib.request.Request(base + path, data=data, method=method)
  if data is not None:
    request.add_header("Content-Type", content_type)
  try:
    with urllib.request.urlopen(request, timeout=30) as response:
      return response.status, json.loads(response.read() or b"{}")
  except urllib.error.HTTPError as exc:
    payload = exc.read()
    try:
      return exc.code, json.loads(payload)
    except ValueError:
      return exc.code, {"raw": payload[:200].decode(errors="replace")}


def api_participant(base: str, manifest, score_of) -> tuple[str, dict[str, int]]:
  """Registers a participant and scores every trial with ``score_of(trial, position)``; returns
  the id and ``{trial id: score}``."""
  status, state = call(base, "POST", "/api/participants", {})
  assert status == 201, state
  pid, given = state["participant"], {}
  while not state["done"]:
    trial = manifest.trial(state["trial"]["id"])
    given[trial.id] = score_of(trial, state["position"])
    status, state = call(base, "POST", f"/api/participants/{pid}/scores",
                         {"position": state["position"], "trial": trial.id,
                          "score": given[trial.id], "response_ms": 900})
    assert status == 200, state
  return pid, given


# ---------------------------------------------------------------------------------------------
# The page, through Selenium.
# ---------------------------------------------------------------------------------------------

class Page:
  """One browser tab's view of the study page."""

  def __init__(self, driver, shots):
    self.driver, self.shots = driver, shots

  def attr(self, name: str) -> str:
    return self.driver.execute_script(f"return document.body.dataset.{name} || ''")

  def wait(self, *states: str, timeout: float = 20) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(self.driver, timeout, poll_frequency=0.02).until(
        lambda _: self.attr("state") in states,
        message=f"page never reached {states} (at {self.attr('state')!r})")
    return self.attr("state")

  def shot(self, name: str) -> None:
    self.driver.save_screenshot(str(self.shots / f"{name}.png"))

  def element(self, element_id: str):
    from selenium.webdriver.common.by import By

    return self.driver.find_element(By.ID, element_id)

  def score_with_keys(self, score: int) -> None:
    """Types ``score`` on the focused scale: Home, then PageUp (10) and ArrowRight (1) steps."""
    from selenium.webdriver.common.keys import Keys

    keys = Keys.HOME + Keys.PAGE_UP * (score // 10) + Keys.ARROW_RIGHT * (score % 10)
    self.element("scale").send_keys(keys)
    assert self.element("scale").get_attribute("aria-valuenow") == str(score)

  def score_with_mouse(self, score: int) -> int:
    """Clicks the scale at ``score``; returns the score the page took (pixel rounding)."""
    from selenium.webdriver.common.action_chains import ActionChains

    scale = self.element("scale")
    width = scale.size["width"]
    ActionChains(self.driver).move_to_element_with_offset(
        scale, round((score / 100 - 0.5) * width), 0).click().perform()
    return int(scale.get_attribute("aria-valuenow"))
