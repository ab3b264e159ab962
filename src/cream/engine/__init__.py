"""What every run shares: device and processes, run directory, checkpoints, logs, signals, evaluation."""
