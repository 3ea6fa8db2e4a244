"""The held-out benchmark suite and the release gate.

  python -m jaxenhance.suite fetch                      # once: the pinned Debian packages
  python -m jaxenhance.suite list                       # items, categories, sources
  python -m jaxenhance.evaluate --suite=full --checkpoint=shipped --output=DIR
  python benchmarks/release_gate.py --checkpoint=DIR    # exits 1 if the gate fails

``items`` (what the suite holds), ``runner`` (encode, enhance whole frames, score both rows),
``report`` (Markdown, JSON, plot), ``gate`` (the ship / do-not-ship checks).
"""
