"""Training: the multi-task training loop on accelerate, task samplers, and the phases (intermediate, target)."""
