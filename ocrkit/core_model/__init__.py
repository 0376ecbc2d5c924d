"""The OCR network (ResNet backbone + Transformer), load-compatible with the report's checkpoint.

Importing this package imports torch; nothing outside it does so at module import time.
"""
