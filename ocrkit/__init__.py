"""ocrkit: deploy a handwritten-Cyrillic OCR model on AWS, GCP or locally, and price the choices."""

__version__ = "0.1.0"
