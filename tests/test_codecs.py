"""Real codec round trips on real footage (carphone, 10 frames at 88x72)."""

import itertools

import av
import numpy as np
import pytest

from jaxenhance import codecs
from jaxenhance.data import sources

FPS = 30.0

# (codec, param, values from best to worst quality)
LADDERS = [
    ("h264", "qp", (22, 32, 42)),
    ("hevc", "qp", (22, 32, 42)),
    ("av1", "crf", (20, 40, 60)),
    ("vp9", "crf", (15, 35, 55)),
    ("jpeg", "qf", (90, 50, 10)),
]


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
  frames = sources.sample_clip("carphone", max_frames=10, max_height=72).frames
  assert frames.shape == (10, 72, 88, 3)
  return frames


def _mse(a, b):
  return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# ---------------------------------------------------------------------------------------------
# Colour conversion.
# ---------------------------------------------------------------------------------------------

def test_bt709_reference_values():
  # BT.709 limited range: white (235,128,128), black (16,128,128), red (63,102,240),
  # green (173,42,26), blue (32,240,118).
  colours = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
                     np.uint8)
  frames = np.broadcast_to(colours[:, None, None, :], (5, 2, 2, 3))
  yuv = codecs.rgb_to_yuv420(frames)
  got = np.stack([yuv.y[:, 0, 0], yuv.u[:, 0, 0], yuv.v[:, 0, 0]], axis=1)
  want = [[235, 128, 128], [16, 128, 128], [63, 102, 240], [173, 42, 26], [32, 240, 118]]
  np.testing.assert_array_equal(got, want)
  back = codecs.yuv420_to_rgb(*yuv)
  assert np.abs(back.astype(int) - frames).max() <= 1


def test_luma_matches_ffmpeg_bt709(clip):
  # FFmpeg's swscale with the BT.709 / limited-range matrix is an independent implementation.
  frame = av.VideoFrame.from_ndarray(clip[0], format="rgb24")
  ref = frame.reformat(format="yuv420p", dst_colorspace="ITU709",
                       dst_color_range="MPEG").to_ndarray()
  ours = codecs.rgb_to_yuv420(clip[:1])
  assert np.abs(ref[:72].astype(int) - ours.y[0]).max() <= 1


def test_colour_round_trip_on_real_frames(clip):
  back = codecs.yuv420_to_rgb(*codecs.rgb_to_yuv420(clip))
  assert back.shape == clip.shape and back.dtype == np.uint8
  assert codecs.psnr(clip, back) > 38.0  # only 4:2:0 chroma loss remains


def test_rgb_to_yuv420_refuses_odd_sizes():
  with pytest.raises(codecs.CodecError, match="even"):
    codecs.rgb_to_yuv420(np.zeros((1, 5, 6, 3), np.uint8))


# ---------------------------------------------------------------------------------------------
# Round trips.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codec,param,values", LADDERS, ids=[c for c, _, _ in LADDERS])
def test_quality_ladder(clip, codec, param, values):
  trips = [codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, param, v))
           for v in values]
  for trip in trips:
    assert trip.frames.shape == clip.shape and trip.frames.dtype == np.uint8
    assert len(trip.picture_types) == len(clip)
    assert trip.picture_types[0] == "I"
    assert set(trip.picture_types) <= {"I", "P", "B"}
    assert trip.num_bytes > 0 and trip.bits_per_pixel > 0
    assert trip.bits_per_pixel == pytest.approx(trip.num_bytes * 8 / clip[..., 0].size)
    assert trip.bitrate == pytest.approx(trip.num_bytes * 8 * FPS / len(clip))
  psnrs = [codecs.psnr(clip, t.frames) for t in trips]
  bpps = [t.bits_per_pixel for t in trips]
  assert psnrs[0] > 30.0, psnrs
  assert all(a > b for a, b in itertools.pairwise(psnrs)), (codec, psnrs)
  assert all(a > b for a, b in itertools.pairwise(bpps)), (codec, bpps)
  if codec != "jpeg":
    assert set(trips[0].picture_types) & {"P", "B"}, trips[0].picture_types
  # Alignment: decoded frame t is closer to source t than to its neighbours.
  best = trips[0].frames
  for t in range(len(clip)):
    own = _mse(best[t], clip[t])
    for s in (t - 1, t + 1):
      if 0 <= s < len(clip):
        assert own < _mse(best[t], clip[s]), (codec, t, s)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_crf_rate_control(clip, codec):
  low, high = (codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, "crf", v))
               for v in (20, 40))
  assert codecs.psnr(clip, low.frames) > codecs.psnr(clip, high.frames)
  assert low.num_bytes > high.num_bytes


@pytest.mark.parametrize("codec,param", [("h264", "qp"), ("hevc", "qp"), ("av1", "crf"),
                                         ("vp9", "crf")])
def test_gop_sets_key_frames(clip, codec, param):
  trip = codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, param, 30, gop=4))
  assert [trip.picture_types[i] for i in (0, 4, 8)] == ["I", "I", "I"], trip.picture_types


def test_odd_size_is_padded_and_cropped_back(clip):
  frames = np.ascontiguousarray(clip[:4, :71, :87])
  for settings in (codecs.EncodeSettings("h264", "qp", 20),
                   codecs.EncodeSettings("jpeg", "qf", 95)):
    trip = codecs.round_trip(frames, FPS, settings)
    assert trip.frames.shape == frames.shape
    assert codecs.psnr(frames, trip.frames) > 33.0
  # Smaller than libx265's 16x16 minimum: padded up, cropped back.
  tiny = np.ascontiguousarray(clip[:3, 20:27, 30:39])
  trip = codecs.round_trip(tiny, FPS, codecs.EncodeSettings("hevc", "qp", 20))
  assert trip.frames.shape == tiny.shape


@pytest.mark.parametrize("kwargs,match", [
    ({"codec": "mpeg2", "param": "qp", "value": 30}, "unknown codec"),
    ({"codec": "av1", "param": "qp", "value": 30}, "rate parameter"),
    ({"codec": "h264", "param": "qp", "value": 60}, "out of range"),
    ({"codec": "jpeg", "param": "qf", "value": 0}, "out of range"),
    ({"codec": "vp9", "param": "crf", "value": 30, "gop": 0}, "gop"),
])
def test_bad_settings_are_refused(kwargs, match):
  with pytest.raises(codecs.CodecError, match=match):
    codecs.EncodeSettings(**kwargs)


def test_bad_frames_are_refused(clip):
  settings = codecs.EncodeSettings("h264", "qp", 30)
  with pytest.raises(codecs.CodecError, match="uint8"):
    codecs.round_trip(clip.astype(np.float32) / 255, FPS, settings)
  with pytest.raises(codecs.CodecError, match=r"\[T, H, W, 3\]"):
    codecs.round_trip(clip[0], FPS, settings)
  with pytest.raises(codecs.CodecError, match="fps"):
    codecs.round_trip(clip, 0.0, settings)
