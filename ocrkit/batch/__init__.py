"""Batch OCR: read every image of a folder, a glob, a labels TSV or a bucket, write one row per image.

The job is runner-independent: ``job.py`` opens the source and the sink, checks the run manifest and
works out which images are still to do; a runner (``runners/``: ``local`` threads + one model, ``ray``
Ray Data actors) turns those images into rows that the sink appends in completed chunks. Managed cloud
jobs plug in as further runners. Torch-free at import time: the engine is loaded through
``ocrkit.engine.load_predictor`` only when a run starts.
"""
