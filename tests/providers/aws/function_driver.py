"""Run inside a bare interpreter (`python -I -S function_driver.py FOLDER`): the unpacked function zip is
the only thing on the path besides the standard library. Reads a JSON list of API Gateway v2 events on
stdin, answers each with the function's handler, writes a JSON document on stdout: the answers, where
ocrkit and onnxruntime were imported from, and whether torch could be imported."""

import importlib.util
import json
import sys
import time

folder = sys.argv[1]
sys.path.insert(0, folder)
events = json.load(sys.stdin)
started = time.perf_counter()
from ocrkit.runtime import function_model_entry  # noqa: E402

imported = time.perf_counter()
answers = [function_model_entry.handler(event, None) for event in events]
import numpy  # noqa: E402
import onnxruntime  # noqa: E402

import ocrkit  # noqa: E402

json.dump(
    {
        "answers": answers,
        "ocrkit": ocrkit.__file__,
        "onnxruntime": onnxruntime.__file__,
        "onnxruntime_version": onnxruntime.__version__,
        "numpy_version": numpy.__version__,
        "torch_importable": importlib.util.find_spec("torch") is not None,
        "sys_path": sys.path,
        "import_s": imported - started,
    },
    sys.stdout,
)
