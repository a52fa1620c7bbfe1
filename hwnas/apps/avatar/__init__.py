"""The avatar encoder of Auto-CARD on a synthetic HMC benchmark: the view-decoupled space (``avatar.toml``), the
task (data, fixed decoder, extreme-expression-aware losses, hand-designed encoders, metrics) and LATEX
(``latex/``: skip the encoder on redundant frames)."""
