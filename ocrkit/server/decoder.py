"""Make the image decoder itself enforce the gateway's pixel limits, in the process that decodes.

The gateway reads each image's size from its header before any decoder runs (`ocrkit.gateway.images`);
this is the second line: OpenCV checks `OPENCV_IO_MAX_IMAGE_PIXELS` / `_WIDTH` / `_HEIGHT` before it
allocates an image and fails the decode instead. OpenCV reads them once, when it loads, so they are set
in each worker before the model (and OpenCV with it) is imported. A value already in the environment
is kept (an operator's choice), and nothing here imports OpenCV.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from ocrkit.gateway.limits import Limits

PIXELS_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"
WIDTH_ENV = "OPENCV_IO_MAX_IMAGE_WIDTH"
HEIGHT_ENV = "OPENCV_IO_MAX_IMAGE_HEIGHT"


def cap_decoder(limits: Limits, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set OpenCV's decode caps to the gateway's limits (unless already set); returns what is in force."""
    env = os.environ if environ is None else environ
    wanted = {
        PIXELS_ENV: str(limits.max_pixels),
        WIDTH_ENV: str(limits.max_width),
        HEIGHT_ENV: str(limits.max_height),
    }
    for key, value in wanted.items():
        env.setdefault(key, value)
    return {key: env[key] for key in wanted}
