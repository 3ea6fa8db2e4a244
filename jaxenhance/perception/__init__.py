"""Perceptual layer selection: probe a CNN with gratings, score frequency and orientation
selectivity against human contrast sensitivity, and rank/select its layers.

Modules: `gratings` (stimuli), `csf` (contrast sensitivity models), `probe` (responses R(f, theta)
of any network, cached), `scoring` (S_F, S_O, layer scores), `selection` (top-k/threshold, JSON
report, channel masks), `networks` (named networks), `plots`.
"""
