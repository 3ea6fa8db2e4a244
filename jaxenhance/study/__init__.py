"""A subjective quality study in the browser (DSIS, ITU-R BT.500), on the held-out suite.

  python -m jaxenhance.study prepare study/ --items nature/LadyBird,plasma/Grey \\
      --rungs h264_qp37,jpeg_qf10 --model shipped=shipped       # stimuli + manifest (sha256)
  python -m jaxenhance.study serve study/                        # http://127.0.0.1:8000/
  python -m jaxenhance.study analyze study/                      # MOS, 95 % CI, screening, plot

Each trial shows the original (A), then a test stimulus (B): the compressed input, a model's
output, or the original again (the hidden reference); the participant scores B's impairment on a
continuous 0-100 scale with the five ITU labels. Modules, one job each:

  stimuli    cut matched crops or clips of suite items per condition; write the folder
  manifest   the folder's manifest: trials, stimuli and their sha256; verified loading
  schedule   each participant's order: practice first, no condition twice in a row
  database   scores in SQLite (sqlite3), one transaction per change, one score per trial
  webapp     the Flask server (127.0.0.1 by default) and its JSON API; page/ holds the page
  analysis   MOS and intervals, paired differences, BT.500 observer screening, plot
  browser    Debian's Chromium + chromedriver, pinned, for the headless browser test
"""
