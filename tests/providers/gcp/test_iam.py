"""The IAM pieces that no emulator here serves: Cloud Run's getIamPolicy/setIamPolicy over REST
(RunIamClient, against a small local HTTP server that answers as Cloud Run v2 does) and the policy edits
(ocrkit.providers.gcp.iam_policy: etags, version 3 for conditions, a concurrent write retried)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.auth.credentials import AnonymousCredentials

from ocrkit.providers.gcp import iam_policy as iam
from ocrkit.providers.gcp.session import RunIamClient, is_not_found
from tests.providers.gcp.conftest import FakePolicies

SERVICE = "projects/demo-project/locations/us-east4/services/demo-gateway"


@pytest.fixture
def cloud_run():
    """Cloud Run v2's IAM routes for one service: GET :getIamPolicy, POST :setIamPolicy (etag checked)."""
    seen: list[tuple[str, str, dict]] = []
    stored = {"policy": {"version": 1, "etag": "BwAA"}}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            seen.append(("GET", self.path, {}))
            if self.path != f"/v2/{SERVICE}:getIamPolicy":
                return self._answer(404, {"error": {"code": 404, "message": "service not found"}})
            self._answer(200, stored["policy"])

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(("POST", self.path, body))
            if self.path != f"/v2/{SERVICE}:setIamPolicy":
                return self._answer(404, {"error": {"code": 404, "message": "service not found"}})
            if body["policy"].get("etag") != stored["policy"]["etag"]:
                return self._answer(409, {"error": {"code": 409, "message": "concurrent change"}})
            stored["policy"] = {**body["policy"], "etag": "BwAB"}
            self._answer(200, stored["policy"])

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen, stored
    server.shutdown()
    server.server_close()


def test_run_iam_client_grants_and_revokes_allusers_over_rest(cloud_run):
    url, seen, stored = cloud_run
    client = RunIamClient(url, AnonymousCredentials())
    assert iam.grant(client, SERVICE, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER) is True
    assert stored["policy"]["bindings"] == [{"role": "roles/run.invoker", "members": ["allUsers"]}]
    assert [(m, p.rsplit(":", 1)[-1]) for m, p, _ in seen] == [
        ("GET", "getIamPolicy"),
        ("POST", "setIamPolicy"),
    ]
    assert seen[1][2]["policy"]["etag"] == "BwAA"  # read-modify-write with the etag
    assert iam.grant(client, SERVICE, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER) is False  # already there
    assert iam.revoke(client, SERVICE, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER) is True
    assert stored["policy"].get("bindings", []) == []


def test_run_iam_client_errors_are_google_errors(cloud_run):
    url, _, _ = cloud_run
    client = RunIamClient(url, AnonymousCredentials())
    with pytest.raises(Exception) as info:
        iam.get_policy(client, SERVICE + "-gone")
    assert is_not_found(info.value)


def condition(n: int) -> dict[str, str]:
    return {"title": "ocrkit-demo", "expression": f'resource.name == "e/{n}"', "description": "d"}


def test_bindings_keep_the_others_and_a_conditioned_one_is_version_3_and_replaced():
    fake = FakePolicies()
    endpoint = "projects/demo-project/locations/us-east4/endpoints/1"
    member = "serviceAccount:demo-fn@demo-project.iam.gserviceaccount.com"
    other = ("roles/viewer", ["user:someone@example.com"], "")
    fake.policies[endpoint] = fake.get_iam_policy(type("R", (), {"resource": endpoint})())
    fake.policies[endpoint].bindings.add(role=other[0], members=other[1])
    assert iam.grant(fake, endpoint, iam.PREDICT_ROLE, member)
    assert not iam.grant(fake, endpoint, iam.PREDICT_ROLE, member)  # already there: no write
    assert fake.bindings(endpoint) == [other, (iam.PREDICT_ROLE, [member], "")]
    assert iam.revoke(fake, endpoint, iam.PREDICT_ROLE, member)
    assert not iam.revoke(fake, endpoint, iam.PREDICT_ROLE, member)
    assert fake.bindings(endpoint) == [other]  # the other bindings are kept

    assert iam.grant(fake, endpoint, iam.PREDICT_ROLE, member, condition(1))
    assert fake.policies[endpoint].version == 3
    assert iam.grant(fake, endpoint, iam.PREDICT_ROLE, member, condition(2))  # same title: replaced
    assert fake.bindings(endpoint) == [other, (iam.PREDICT_ROLE, [member], condition(2)["expression"])]
    assert iam.revoke(fake, endpoint, iam.PREDICT_ROLE, member, "ocrkit-demo")
    assert fake.bindings(endpoint) == [other]


def test_a_concurrent_policy_change_is_retried():
    from google.api_core import exceptions as gx

    fake = FakePolicies()
    real_set = fake.set_iam_policy
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise gx.Aborted("There were concurrent policy changes")
        return real_set(request)

    fake.set_iam_policy = flaky
    assert iam.grant(fake, SERVICE, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER)
    assert calls["n"] == 2 and fake.bindings(SERVICE) == [(iam.INVOKER_ROLE, ["allUsers"], "")]
