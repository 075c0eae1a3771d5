"""The single training loop (RL), the supervised warm start, checkpoint/resume."""
