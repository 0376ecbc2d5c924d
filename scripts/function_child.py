"""Child of scripts/bench_function.py, run as `python -I -S function_child.py FOLDER IMAGES_JSON ROUNDS`:
the unpacked function zip is the only thing on the path besides the standard library (what Lambda's
python3.11 runtime imports). Prints one JSON document of timings; the standard library only."""

import base64
import json
import statistics
import sys
import time

folder, images_file, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, folder)
with open(images_file, encoding="utf-8") as fh:
    images = json.load(fh)


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak (getrusage's ru_maxrss keeps the parent's peak across exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def event(data: bytes) -> dict:
    return {
        "version": "2.0",
        "routeKey": "POST /predict",
        "rawPath": "/predict",
        "rawQueryString": "",
        "headers": {"content-type": "image/jpeg", "accept": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/predict", "sourceIp": "203.0.113.7"}},
        "body": base64.b64encode(data).decode(),
        "isBase64Encoded": True,
    }


events = {name: event(base64.b64decode(b64)) for name, b64 in images.items()}
t0 = time.perf_counter()
from ocrkit.runtime import function_model_entry  # noqa: E402

t_import = time.perf_counter()
function_model_entry.get_gateway()  # model read (archive -> sha256 -> /tmp) and ONNX Runtime sessions
t_model = time.perf_counter()
first_name = next(iter(events))
first = function_model_entry.handler(events[first_name])
t_first = time.perf_counter()
first_wall = time.time()
assert first["statusCode"] == 200, first

warm: dict[str, list[float]] = {name: [] for name in events}
texts: dict[str, str] = {}
for _ in range(rounds):
    for name, ev in events.items():
        start = time.perf_counter()
        answer = function_model_entry.handler(ev)
        warm[name].append((time.perf_counter() - start) * 1000)
        texts[name] = json.loads(answer["body"])["text"]

json.dump(
    {
        "import_s": t_import - t0,
        "model_s": t_model - t_import,
        "first_answer_s": t_first - t_model,
        "first_wall": first_wall,
        "warm_ms": {name: statistics.median(v) for name, v in warm.items()},
        "texts": texts,
        "peak_rss_mb": peak_rss_mb(),
    },
    sys.stdout,
)
