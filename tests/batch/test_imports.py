"""The batch package and command import without torch or Ray (both load only when a run starts)."""

from __future__ import annotations

import subprocess
import sys


def test_batch_imports_neither_torch_nor_ray():
    code = (
        "import sys, ocrkit.cli, ocrkit.batch.job, ocrkit.batch.runners.local, ocrkit.batch.runners.ray, "
        "ocrkit.batch.runners.sagemaker_transform, ocrkit.batch.runners.vertex_batch, "
        "ocrkit.batch.cloud_target, ocrkit.costing.batch, ocrkit.commands.batch_managed, "
        "ocrkit.commands.cost_batch; "
        "bad = [m for m in ('torch', 'ray', 'cv2', 'boto3', 'google.cloud.aiplatform_v1') "
        "if m in sys.modules]; "
        "assert not bad, bad; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
