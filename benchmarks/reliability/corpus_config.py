"""Config for the bad-input corpus: one source spec as the training source, tiny settings.

  python -m jaxenhance.prepare --config=benchmarks/reliability/corpus_config.py:file:/x.mp4 …

The test split is a small photo clip (splits need a source each); the ladder is one fast x264
rung, so each ``prepare`` mostly measures how the input itself is read.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from train_helpers import tiny_config


def get_config(spec: str = "sample:carphone"):
  config = tiny_config()
  config.data.update(train_sources=(spec,), test_sources=("photo:coffee",), max_height=64,
                     max_frames=6, num_workers=0,
                     ladder=[{"codec": "h264", "param": "qp", "values": [37]}])
  return config
