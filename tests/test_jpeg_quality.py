"""JPEG quality from the file's own quantisation tables, for three real encoders."""

import io
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from jaxenhance import assets, jpeg_quality


@pytest.fixture(scope="module")
def photo():
  return assets.sample_photo("astronaut")[:128, :160]


def pillow_jpeg(image, quality):
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, "JPEG", quality=quality)
  return io.BytesIO(buf.getvalue())


def test_pillow_qualities_are_read_back_exactly_over_the_whole_range(photo):
  # The learned predictor routes QF 75 and 90 to its nearest trained classes (60 and 5); the
  # tables name them exactly.
  for quality in range(1, 101):
    estimate = jpeg_quality.estimate_file(pillow_jpeg(photo, quality))
    assert (estimate.quality, estimate.exact, estimate.distance) == (quality, True, 0.0)


@pytest.mark.parametrize("quality", [5, 15, 50, 75, 90, 95])
def test_opencv_libjpeg_qualities_are_exact(photo, quality):
  ok, data = cv2.imencode(".jpg", photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
  assert ok
  estimate = jpeg_quality.estimate_file(io.BytesIO(data.tobytes()))
  assert estimate.quality == quality and estimate.exact


def ffmpeg_mjpeg(image, qscale):
  ctx = av.CodecContext.create("mjpeg", "w")
  ctx.width, ctx.height, ctx.pix_fmt = image.shape[1], image.shape[0], "yuvj420p"
  ctx.time_base = Fraction(1, 25)
  ctx.options = {"qmin": str(qscale), "qmax": str(qscale)}
  frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
  packets = ctx.encode(frame) + ctx.encode(None)
  return io.BytesIO(bytes(packets[0]))


def test_ffmpeg_mjpeg_gets_an_effective_quality_that_falls_with_its_quantiser(photo):
  estimates = [jpeg_quality.estimate_file(ffmpeg_mjpeg(photo, q)) for q in (2, 5, 10, 20, 31)]
  qualities = [e.quality for e in estimates]
  assert not any(e.exact for e in estimates)  # FFmpeg's own scaling: not IJG tables
  assert qualities == sorted(qualities, reverse=True) and qualities[0] >= 85
  assert qualities[-1] <= 30


def test_ijg_scaling_and_bad_input(tmp_path, photo):
  np.testing.assert_array_equal(jpeg_quality.ijg_table(jpeg_quality.LUMA_BASE, 50),
                                jpeg_quality.LUMA_BASE)
  assert jpeg_quality.ijg_table(jpeg_quality.LUMA_BASE, 100).max() == 1
  Image.fromarray(photo).save(tmp_path / "x.png")
  with pytest.raises(jpeg_quality.JpegQualityError, match="PNG, not a JPEG"):
    jpeg_quality.estimate_file(tmp_path / "x.png")
  (tmp_path / "y.jpg").write_bytes(b"not a jpeg")
  with pytest.raises(jpeg_quality.JpegQualityError, match="cannot be read"):
    jpeg_quality.estimate_file(tmp_path / "y.jpg")
  with pytest.raises(jpeg_quality.JpegQualityError, match="luma table"):
    jpeg_quality.estimate_from_tables({1: [1] * 64})
