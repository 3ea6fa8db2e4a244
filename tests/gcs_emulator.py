"""A local Google Cloud Storage API (``gcp-storage-emulator``) for the cloud-path tests.

``python tests/gcs_emulator.py PORT BUCKET`` serves the JSON API on 127.0.0.1:PORT, in memory,
with BUCKET created. ``Emulator`` starts that in a subprocess and gives the environment that
points every client this project uses at it, anonymously:

  gcsfs (etils.epath's fsspec backend)  STORAGE_EMULATOR_HOST, FSSPEC_GCS_TOKEN=anon
  ArrayRecord's reader (google-cloud-cpp) CLOUD_STORAGE_EMULATOR_ENDPOINT
  TensorStore (Orbax's array data)       TENSORSTORE_GCS_HTTP_URL, GOOGLE_AUTH_TOKEN_FOR_TESTING

TensorFlow's own GCS client (``tf.io.gfile``) has its endpoints compiled in and cannot be
pointed here, so ``EPATH_USE_TF=false`` makes etils.epath use gcsfs. The GCE metadata server
that credential look-ups fall back to is pointed at a closed local port: nothing leaves the
machine.

Four patches to the emulator, all in this process: requests are handled one at a time but
connections are accepted concurrently (TensorStore and gcsfs open many at once; the emulator's
store has no locks); downloads carry ``x-goog-generation`` (TensorStore's conditional writes
need it); ``Range: bytes=-N`` (the last N bytes, how ArrayRecord reads a file's footer) is
served; and ``moveTo`` (what gcsfs renames with) is added as a copy and a delete (without it
gcsfs retries the emulator's 501 for ~30 s before copying itself). The emulator ignores
generation preconditions, so it cannot show two writers racing; one writer is all these tests
have.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there, a connection fails at once


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def client_env(url: str) -> dict[str, str]:
  """The environment that sends every GCS client of the project to ``url``, anonymously."""
  return {
      "EPATH_USE_TF": "false",
      "STORAGE_EMULATOR_HOST": url,
      "FSSPEC_GCS_TOKEN": "anon",
      # gcsfs's zonal-bucket support asks the storage-control gRPC API first; not emulated.
      "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
      "CLOUD_STORAGE_EMULATOR_ENDPOINT": url,
      "TENSORSTORE_GCS_HTTP_URL": url,
      "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
      "GCE_METADATA_HOST": CLOSED, "GCE_METADATA_ROOT": CLOSED, "GCE_METADATA_IP": CLOSED,
      "NO_GCE_CHECK": "true",
      "GOOGLE_APPLICATION_CREDENTIALS": "",
  }


class Emulator:
  """The emulator in a subprocess; ``url``, ``env`` (``client_env``) and ``stop()``."""

  def __init__(self, bucket: str = "bucket"):
    port = free_port()
    self.url = f"http://127.0.0.1:{port}"
    self.env = client_env(self.url)
    self._process = subprocess.Popen([sys.executable, __file__, str(port), bucket])
    deadline = time.monotonic() + 30
    while True:
      try:
        urllib.request.urlopen(self.url + "/", timeout=1).close()
        return
      except OSError:
        if self._process.poll() is not None or time.monotonic() > deadline:
          self.stop()
          raise RuntimeError(f"the GCS emulator did not start on {self.url}")
        time.sleep(0.05)

  def stop(self) -> None:
    self._process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
      self._process.wait(10)
    if self._process.poll() is None:
      self._process.kill()


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
  """``os.environ`` updated with ``values`` inside the block, restored after it."""
  saved = {k: os.environ.get(k) for k in values}
  os.environ.update(values)
  try:
    yield
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value


def _patch_emulator() -> None:
  import re
  from http import HTTPStatus, server

  from gcp_storage_emulator import server as emulator
  from gcp_storage_emulator.handlers import objects

  class Server(server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
      if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up early
        super().handle_error(request, client_address)

  server.HTTPServer = Server  # the emulator's APIThread builds server.HTTPServer
  handle, lock = emulator.Router.handle, threading.Lock()

  def handle_one_at_a_time(self, method):
    with lock:
      handle(self, method)

  emulator.Router.handle = handle_one_at_a_time

  def move(request, response, storage):
    params = request.params  # a copy within the bucket, then the source deleted
    params["dest_bucket_name"] = params["bucket_name"]
    objects.copy(request, response, storage)
    if response.status == HTTPStatus.OK:
      storage.delete_file(params["bucket_name"], params["object_id"])

  route = (r"^/storage/v1/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)/moveTo/o/"
           r"(?P<dest_object_id>.*[^/]+)$")
  emulator.HANDLERS = ((route, {"POST": move}), *emulator.HANDLERS)
  download = objects.download

  def download_with_suffix_range(request, response, storage, *args, **kwargs):
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    try:
      content, obj = storage.get_file(bucket, name), storage.get_file_obj(bucket, name)
    except Exception:  # noqa: BLE001 - a missing object: the emulator's own 404
      return download(request, response, storage, *args, **kwargs)
    # TensorStore takes an object's generation from these headers (conditional writes).
    response["x-goog-generation"] = str(obj["generation"])
    response["x-goog-metageneration"] = str(obj.get("metageneration", "1"))
    suffix = re.fullmatch(r"\s*bytes=-(\d+)\s*", request.get_header("range", "") or "")
    if suffix is None:
      return download(request, response, storage, *args, **kwargs)
    start = max(0, len(content) - int(suffix[1]))
    response["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
    response.status = HTTPStatus.PARTIAL_CONTENT
    response.write_file(content[start:])
    return None

  objects.download = download_with_suffix_range
  emulator.HANDLERS = tuple(
      (regex, {m: download_with_suffix_range if h is download else h for m, h in hs.items()})
      for regex, hs in emulator.HANDLERS)


def main() -> None:
  port, bucket = int(sys.argv[1]), sys.argv[2]
  _patch_emulator()
  import logging

  from gcp_storage_emulator.server import create_server

  logging.getLogger().setLevel(logging.CRITICAL)
  create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket).run()


if __name__ == "__main__":
  main()
