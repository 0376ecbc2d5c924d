"""Take docs/screenshot.png: the web page of `ocrkit serve` showing the answer for a sample image.

Starts `ocrkit serve` on a free 127.0.0.1 port with the given weights (default: the demo checkpoint
shipped with ocrkit), opens the page in headless Chromium (Playwright), uploads
ocrkit/assets/samples/sample01.jpg ("заявление"), waits for the answer and saves the page.

Usage: python scripts/screenshot.py [--weights PATH] [--name NAME] [--image FILE] [--out docs/screenshot.png]
Needs: the ocrkit[model] and [dev] extras (torch, Pillow, playwright) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("OCRKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen, timeout_s: float = 300.0) -> None:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if process.poll() is not None:
            raise SystemExit(f"ocrkit serve exited with status {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("ocrkit serve was not ready in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--name", default="ocrkit")
    parser.add_argument("--image", type=Path, default=ROOT / "ocrkit" / "assets" / "samples" / "sample01.jpg")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="ocrkit-shot-"))
    word = args.image

    port = free_port()
    argv = [sys.executable, "-m", "ocrkit.cli", "serve", "--port", str(port)]
    argv += ["--weights", str(args.weights)] if args.weights else []
    argv += ["--name", args.name, "--torch-threads", str(args.torch_threads)]
    argv += ["--log-level", "warning"]
    with open(work / "serve.log", "wb") as log:
        server = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    try:
        wait_ready(port, server)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(work / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 820, "height": 720},
            )
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("body[data-state='ready']")
            page.set_input_files("#file", str(word))
            page.wait_for_selector("#answer", state="visible", timeout=120_000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            context.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size:,} bytes)")
    return 0 if size < 200_000 else 1


if __name__ == "__main__":
    sys.exit(main())
