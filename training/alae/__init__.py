"""StyleALAE training (official ALAE train_alae.py): the three losses, LREQAdam, the LOD driver,
the trainer and its presets."""
