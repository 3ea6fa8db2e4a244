"""Training and evaluation data: footage sources, patch records and the Grain input pipeline.

This package imports nothing itself, so ``from jaxenhance.data import sources`` stays light
(no TFDS or Grain import unless the records/pipeline modules are used).
"""
