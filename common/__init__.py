"""Shared pieces: data, geometry, models, trainer, tracking, config."""
