"""Content-addressed artifacts: the dvc-data cache, a run's artifacts and inputs, datasets and models."""
