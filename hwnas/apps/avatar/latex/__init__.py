"""LATEX (Auto-CARD, Sec. 4.3): a cheap head on the encoder's first layer decides per frame (or per view)
whether the encoder runs; skipped frames reuse or extrapolate earlier outputs."""
