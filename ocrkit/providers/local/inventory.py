"""The local deployments running on this machine, found by their command line (no state file needed), for
`ocrkit status --all`. They cost nothing, and their invocations are not counted anywhere that outlives the
process, so the guardrail lists them (with the command that stops them) and calls their idleness unknown.
"""

from __future__ import annotations

from decimal import Decimal

from ocrkit.deploy.inventory import FoundDeployment
from ocrkit.providers.local.processes import all_servers

LOCAL_SERVING = "local"  # the embedded server as a process on this machine (not a cloud serving option)


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def find_deployments() -> list[FoundDeployment]:
    out = []
    for server in all_servers():
        if not server.name:
            continue
        url = f"http://{_flag(server.argv, '--host') or '127.0.0.1'}:{_flag(server.argv, '--port') or '?'}"
        out.append(
            FoundDeployment(
                cloud="local",
                name=server.name,
                region="this machine",
                serving=LOCAL_SERVING,
                serving_from="inferred",
                hourly=Decimal(0),
                running=f"PID {server.pid}, {url}",
                window=None,
                resources=(f"local:process {server.pid}",),
            )
        )
    return out
