"""``serve``: the study's web server (Flask), bound to 127.0.0.1 unless told otherwise.

Routes::

  GET  /                                  the page (page/index.html, study.js, study.css)
  GET  /api/study                         title, presentation, scale labels, trial counts
  POST /api/participants                  registers a participant with their own order -> state
  GET  /api/participants/<id>             where a participant is: progress and the next trial
  POST /api/participants/<id>/scores      {position, trial, score, response_ms} -> next state
  GET  /stimuli/<name>                    a stimulus listed in the manifest, checked again

The folder is verified when the server starts (``manifest.load``: every stimulus against its
sha256) and each stimulus again when it is sent. Refusals are JSON ``{"error": message}`` with
the HTTP status that fits: 400 malformed or out-of-range score, 404 unknown participant or
stimulus, 409 replayed, duplicated or out-of-order submission, 413 oversized body, 415 not JSON.
API calls must send ``Content-Type: application/json``, which a page on another site cannot do
without the server's consent, so no other site can post scores through a participant's browser.
"""

from __future__ import annotations

import logging
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

import flask
from werkzeug import serving
from werkzeug.exceptions import HTTPException

from jaxenhance.study import database, schedule
from jaxenhance.study import manifest as manifest_lib
from jaxenhance.study.manifest import StudyError

logger = logging.getLogger("jaxenhance.study")
PAGE_FILES = {"index.html": "text/html", "study.js": "text/javascript", "study.css": "text/css"}
_STATUS = {database.BadScore: 400, database.UnknownParticipant: 404, database.Conflict: 409}


def _page(name: str) -> bytes:
  return resources.files("jaxenhance.study").joinpath("page", name).read_bytes()


def create_app(study_dir: str | Path) -> flask.Flask:
  """The Flask app of ``study_dir`` (verified first; StudyError when it fails)."""
  study_dir = Path(study_dir)
  manifest = manifest_lib.load(study_dir, verify=True)
  study_id = manifest_lib.manifest_sha256(study_dir)
  db = database.Database(study_dir / manifest_lib.DATABASE_FILE, study_id)
  by_id = {t.id: t for t in manifest.trials}

  app = flask.Flask(__name__, static_folder=None)
  app.config["MAX_CONTENT_LENGTH"] = 16 * 1024  # a score is a few dozen bytes

  def state(participant: str) -> dict[str, Any]:
    done, order = db.progress(participant)
    training = sum(1 for _, is_training in order if is_training)
    out = {"participant": participant, "position": done, "total": len(order),
           "training": training, "done": done >= len(order), "trial": None}
    if done < len(order):
      trial = by_id[order[done][0]]
      out["trial"] = {"position": done, "id": trial.id, "training": trial.training,
                      "reference": f"/stimuli/{trial.reference}",
                      "test": f"/stimuli/{trial.test}"}
    return out

  def json_body() -> dict[str, Any]:
    if not flask.request.is_json:
      flask.abort(415, "send JSON (Content-Type: application/json)")
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
      flask.abort(400, "the body must be a JSON object")
    return body

  @app.after_request
  def headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self'; media-src 'self'; frame-ancestors 'none'")
    if response.mimetype == "application/json" or flask.request.path == "/":
      response.headers["Cache-Control"] = "no-store"
    return response

  @app.errorhandler(StudyError)
  def study_error(exc: StudyError):
    status = next((s for kind, s in _STATUS.items() if isinstance(exc, kind)), 500)
    if status == 500:
      logger.error("study: %s", exc)
    return flask.jsonify(error=str(exc)), status

  @app.errorhandler(HTTPException)
  def http_error(exc: HTTPException):
    return flask.jsonify(error=exc.description or exc.name), exc.code

  @app.get("/")
  def index():
    return flask.Response(_page("index.html"), mimetype=PAGE_FILES["index.html"])

  @app.get("/favicon.ico")
  def favicon():
    return "", 204  # no icon; an empty answer keeps the browser console clean

  @app.get("/page/<name>")
  def page_file(name: str):
    if name not in PAGE_FILES:
      flask.abort(404, "no such page file")
    return flask.Response(_page(name), mimetype=PAGE_FILES[name])

  @app.get("/api/study")
  def study():
    return flask.jsonify(
        id=study_id[:16], title=manifest.title, method="DSIS", kind=manifest.kind,
        presentation=manifest.presentation, labels=list(manifest_lib.SCALE_LABELS),
        training=len(manifest.training_trials), trials=len(manifest.test_trials))

  @app.post("/api/participants")
  def register():
    json_body()
    seed = secrets.randbits(31)
    order = schedule.order(manifest.trials, seed)
    participant = db.register(order, seed, flask.request.headers.get("User-Agent"))
    return flask.jsonify(state(participant)), 201

  @app.get("/api/participants/<participant>")
  def progress(participant: str):
    return flask.jsonify(state(participant))

  @app.post("/api/participants/<participant>/scores")
  def score(participant: str):
    body = json_body()
    if "score" not in body:
      raise database.BadScore("no score given: every trial needs a score from 0 to 100")
    db.record(participant, body.get("position"), body.get("trial"), body["score"],
              body.get("response_ms"))
    return flask.jsonify(state(participant))

  @app.get("/stimuli/<name>")
  def stimulus(name: str):
    if name not in manifest.stimuli:  # only names the manifest lists: no path ever joined
      flask.abort(404, "no such stimulus in this study")
    data = manifest_lib.stimulus_bytes(study_dir, manifest, name)
    response = flask.Response(data, mimetype=manifest_lib.MEDIA_TYPES[Path(name).suffix])
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response

  return app


def make_server(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000
                ) -> serving.BaseWSGIServer:
  """A threaded WSGI server for ``study_dir`` (``port=0``: any free port); call
  ``serve_forever()`` on it."""
  return serving.make_server(host, port, create_app(study_dir), threaded=True)


def serve(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
  """Serves the study until Ctrl-C."""
  server = make_server(study_dir, host, port)
  if host not in ("127.0.0.1", "localhost", "::1"):
    logger.warning("serving on %s: anyone who can reach this machine can take part and submit "
                   "scores", host)
  print(f"study {study_dir}: open http://{host}:{server.server_port}/ (Ctrl-C stops; scores "
        f"are in {Path(study_dir) / manifest_lib.DATABASE_FILE})", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
