"""SageMaker multi-image requests: the gateway's backend (`SageMakerBackend`, as in the Lambda) sends the
request's images as one `{"images": [...]}` invocation, and the container's handler functions
(`sagemaker_entry`: input_fn -> predict_fn -> output_fn, as the inference toolkit calls them) read them in
one model call. The endpoint between them is a stand-in `invoke_endpoint` that runs the handler functions
in-process (moto's sagemaker-runtime answers canned results, not the container's)."""

from __future__ import annotations

import base64
import io
import shutil

import pytest

from ocrkit.runtime import sagemaker_entry as entry
from ocrkit.runtime.sagemaker_backend import SageMakerBackend
from tests.runtime.shipped import DEMO, Counting, samples

pytestmark = pytest.mark.model


class Container:
    """invoke_endpoint answered by the container's handler functions."""

    def __init__(self, model) -> None:
        self.model, self.invocations = model, []

    def invoke_endpoint(self, *, EndpointName, ContentType, Accept, Body):  # noqa: N803 - boto3's names
        self.invocations.append(ContentType)
        data = entry.input_fn(Body, ContentType)
        body = entry.output_fn(entry.predict_fn(data, self.model), Accept)
        return {"Body": io.BytesIO(body.encode("utf-8")), "ContentType": Accept}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sagemaker-model")
    shutil.copy(DEMO, folder / "model.pt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCRKIT_DEVICE", "cpu")
        return entry.model_fn(str(folder))


def test_eight_images_are_one_invocation_and_one_model_call(model) -> None:
    items = samples()[:8]
    expected = [p.text for p in model.predict_images([d for _, d, _ in items])]
    counting = Counting(model)
    container = Container(counting)
    backend = SageMakerBackend("ocrkit-ocr", client=container)
    got = backend.predict([d for _, d, _ in items], timeout_s=30)
    assert [p.text for p in got] == expected
    assert sum(t == label for t, (_, _, label) in zip(expected, items, strict=True)) >= 6
    assert container.invocations == ["application/json"]
    assert counting.calls == [8]


def test_one_image_goes_raw_and_a_bad_one_in_a_batch_is_a_4xx(model) -> None:
    (_, jpeg, _), (_, other, _) = samples()[:2]
    container = Container(model)
    backend = SageMakerBackend("ocrkit-ocr", client=container)
    assert backend.predict([jpeg], timeout_s=30)[0].text == model.predict_images([jpeg])[0].text
    assert container.invocations == ["image/jpeg"]
    with pytest.raises(entry.InvocationError) as info:
        container.invoke_endpoint(
            EndpointName="x",
            ContentType="application/json",
            Accept="application/json",
            Body=b'{"images": ["bm90IGFuIGltYWdl", "%s"]}' % base64.b64encode(other),
        )
    assert (info.value.status, info.value.code) == (400, "not_an_image")


def test_the_endpoint_model_reads_a_whole_batch_in_one_forward_pass() -> None:
    from ocrkit.providers.aws.spec import AwsDeploySpec, model_environment

    for max_batch in (8, 64):
        spec = AwsDeploySpec.model_validate({"name": "ocrkit-ocr", "limits": {"max_batch": max_batch}})
        assert int(model_environment(spec)["OCRKIT_BATCH_SIZE"]) >= max_batch  # 32 before: 64 took two
