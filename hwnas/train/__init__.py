"""Training: the Task interface, one trainer with checkpoints and resume, run directories bound to a config."""
