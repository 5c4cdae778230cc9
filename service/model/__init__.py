"""A saved best model, read and run with numpy alone: what ``regtune predict`` needs on a laptop
(no torch). The worker writes the file (``regtune.worker.modelfile``)."""
