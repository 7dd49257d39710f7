"""Supernet training: its configuration, the trainer, checkpoints, standalone training."""
