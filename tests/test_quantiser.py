"""Which decoders export the quantiser, and that the H.264 QP map is the encoder's QP."""

import av
import pytest

from jaxenhance import assets, codecs, quantiser, video_io


def encode(path, frames, encoder, options):
  with av.open(str(path), "w") as out:
    stream = out.add_stream(encoder, rate=25, options=options)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    for frame in frames:
      out.mux(stream.encode(codecs.rgb_to_yuv420_frame(frame)))
    out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def clip():
  frames, _ = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=4)
  return frames[:, :128, :160]


@pytest.mark.parametrize("qp", [27, 37, 42])
def test_h264_gives_the_frame_qp_and_a_map_per_macroblock(tmp_path, clip, qp):
  path = tmp_path / "x.mkv"
  encode(path, clip, "libx264", {"qp": str(qp), "preset": "fast"})
  got = list(quantiser.iter_quantisers(path))
  assert len(got) == len(clip)
  for rgb, q in got:
    assert rgb.shape == clip.shape[1:]
    assert q is not None and q.block_size == (16, 16) and q.qp_map.shape == (128 // 16, 160 // 16)
    # Constant QP (no adaptive quantisation): x264 codes I frames 3 below the P frames' --qp
    # (ipratio 1.4) and B frames a little above; all blocks of a frame share its QP.
    assert q.qp_map.min() == q.qp_map.max() and -3 <= q.qp_map[0, 0] - qp <= 3
  assert got[0][1].qp_map[0, 0] == qp - 3  # the first frame is an I frame


def test_vp9_gives_a_frame_quantiser_only_and_hevc_av1_nothing(tmp_path, clip):
  encode(tmp_path / "vp9.mkv", clip, "libvpx-vp9", {"crf": "40", "b": "0"})
  vp9 = [q for _, q in quantiser.iter_quantisers(tmp_path / "vp9.mkv")]
  assert all(q is not None and q.qp_map is None and 0 < q.qp <= 255 for q in vp9)
  for name, encoder, options in (("hevc", "libx265", {"x265-params": "qp=37:log-level=error"}),
                                 ("av1", "libsvtav1", {"crf": "45"})):
    encode(tmp_path / f"{name}.mkv", clip, encoder, options)
    assert all(q is None for _, q in quantiser.iter_quantisers(tmp_path / f"{name}.mkv")), name
