"""The avatar task of Auto-CARD on a synthetic HMC benchmark: data, fixed decoder, losses, encoders, metrics."""
