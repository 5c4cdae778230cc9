"""regtune data plane: the worker loop, objectives, trainers and datasets."""
