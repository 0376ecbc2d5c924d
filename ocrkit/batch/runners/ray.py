"""The Ray runner: the same job on Ray Data, on this machine or on a cluster.

The pending keys become a dataset; one ``map_batches`` stage with a callable class
(``OcrActor``) holds the model -- loaded once per actor, ``--workers`` actors, on a GPU each when
the cluster has them. An actor reads each image from the source itself (a folder, a glob, a TSV or
a bucket, with its own client) and prepares it in a few threads, with the same code as the local
runner (``read_and_prepare``, ``Inference``). Two calls run at once on each actor and only the
inference is serialised, so the next batch is read and decoded while this one is inferred, as the
local runner does. (A separate read stage of plain tasks cost more than it saved: every image's
bytes went through the object store and a second process, and on 2 cores the read tasks took CPU
from the model; see ``scripts/bench_batch.py``.) The driver iterates the results as they stream in
and hands each block to the job, which appends it to the sink: one writer, the same output, the
same resume rule as ``local``.

A cluster's workers must be able to import ocrkit and reach the source (the same folder path on
every node, or a bucket).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ocrkit.batch.inference import Inference, Prepared
from ocrkit.batch.records import ResultRow
from ocrkit.batch.runners.base import Emit, EngineSettings
from ocrkit.batch.runners.local import _quiet_opencv, read_and_prepare
from ocrkit.batch.sources import Source
from ocrkit.errors import OcrkitError

#: calls that run at once on one actor: one infers while the next one reads and decodes
CALLS_PER_ACTOR = 2
#: threads per actor that read and decode images (I/O and OpenCV release the GIL)
READERS_PER_ACTOR = 2
#: the object store of a Ray started here (bytes): keys and rows stream through it
LOCAL_OBJECT_STORE = 256 * 1024 * 1024


def _check_address(address: str) -> None:
    """A Ray address that does not answer is one clear error, not a long hang inside ``ray.init``."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise OcrkitError(f"Ray address {address!r} is not host:port (or ray://host:port, or auto)")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except OSError as exc:
        raise OcrkitError(f"Ray at {address} does not answer ({exc.strerror or exc})") from None


class OcrActor:
    """Holds one model for its lifetime; reads and decodes a batch with a few threads, then infers it."""

    def __init__(self, settings: EngineSettings, threads: int | None, source: Source) -> None:
        _quiet_opencv()
        self.source = source
        self.inference = Inference(settings.load(threads))
        self.pool = ThreadPoolExecutor(max_workers=READERS_PER_ACTOR, thread_name_prefix="ocrkit-ray-read")
        self.infer_lock = threading.Lock()

    def _prepare(self, key: str) -> Prepared:
        return read_and_prepare(self.source, self.inference, key)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        items = list(self.pool.map(self._prepare, [str(s) for s in batch["source"]]))
        with self.infer_lock:  # one inference at a time: the model has the actor's threads
            rows = self.inference.infer(items)
        return {
            "source": [r.source for r in rows],
            "text": [r.text if r.error is None else "" for r in rows],
            "confidence": [math.nan if r.confidence is None else float(r.confidence) for r in rows],
            "error": [r.error or "" for r in rows],
        }


def rows_from_block(block: dict[str, Any]) -> list[ResultRow]:
    rows = []
    for source, text, confidence, error in zip(
        block["source"], block["text"], block["confidence"], block["error"], strict=True
    ):
        if error:
            rows.append(ResultRow.failed(str(source), str(error)))
        else:
            rows.append(ResultRow(str(source), str(text), float(confidence)))
    return rows


class RayRunner:
    name = "ray"

    def __init__(self, settings: EngineSettings, *, workers: int, address: str | None = None) -> None:
        self.settings = settings
        self.workers = workers
        self.address = address
        self._started_here = False

    def prepare(self) -> None:
        try:
            import ray
            import ray.data  # noqa: F401 - Ray Data is part of the extra
        except ImportError:
            raise OcrkitError(
                "--runner ray needs Ray Data, which is not installed", hint="pip install 'ocrkit[ray]'"
            ) from None
        if self.address:
            _check_address(self.address)
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address:
                options["address"] = self.address
                if self.address.removeprefix("ray://").startswith(("127.", "localhost:")):
                    options["_node_ip_address"] = "127.0.0.1"  # a cluster on loopback: stay on it
            else:  # "local": a new Ray here, never a cluster some earlier `ray start` left behind
                options.update(
                    address="local", _node_ip_address="127.0.0.1", object_store_memory=LOCAL_OBJECT_STORE
                )
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise OcrkitError(f"cannot start or join Ray: {str(exc).splitlines()[0]}") from None
            self._started_here = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def _resources(self) -> tuple[float, float, int | None]:
        """(CPUs per actor, GPUs per actor, torch threads per actor)."""
        import ray

        total = ray.cluster_resources()
        gpus = total.get("GPU", 0.0)
        wants_gpu = (self.settings.device or "auto").startswith("cuda") or (
            self.settings.device in (None, "auto") and gpus >= 1
        )
        if wants_gpu:
            if gpus < 1:
                raise OcrkitError("--device cuda: the Ray cluster has no GPU")
            return 1.0, 1.0, None
        cpus = max(1.0, total.get("CPU", 1.0))
        per_actor = max(0.1, math.floor(100 * cpus / self.workers) / 100)
        return per_actor, 0.0, self.settings.threads or max(1, int(cpus // self.workers))

    def run(self, source: Source, pending: list[str], emit: Emit) -> None:
        import ray.data

        cpus, gpus, threads = self._resources()
        batch = self.settings.batch_size
        ds = ray.data.from_items([{"source": key} for key in pending])
        ds = ds.map_batches(
            OcrActor,
            fn_constructor_kwargs={"settings": self.settings, "threads": threads, "source": source},
            batch_size=batch,
            compute=ray.data.ActorPoolStrategy(
                size=self.workers,
                max_concurrent_calls_per_actor=CALLS_PER_ACTOR,
                enable_true_multi_threading=True,
            ),
            num_cpus=cpus,
            num_gpus=gpus,
        )
        for block in ds.iter_batches(batch_size=None, batch_format="numpy"):
            emit(rows_from_block(block))

    def close(self) -> None:
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False
