"""The model server: the gateway contract, the SageMaker container contract and the Vertex AI
custom-container contract, in one WSGI application backed by one Predictor or Backend.

Standard library only at import time (like the gateway); the model itself is loaded by the entry points.
"""

from __future__ import annotations

from ocrkit.server.app import ServerApp, create_app
from ocrkit.server.loading import LoadingBackend
from ocrkit.server.vertex import VertexRoutes

__all__ = ["LoadingBackend", "ServerApp", "VertexRoutes", "create_app"]
