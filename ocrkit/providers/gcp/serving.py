"""What each GCP serving option runs on Vertex AI, from one config: machine type, accelerator, image.

- `gpu-endpoint` (the default): exactly the config's `vertex.machine_type`, accelerator and image.
- `cpu-endpoint`: no accelerator; the config's machine type when the config names no accelerator, else
  `vertex.cpu_machine_type` (the option's default wins over the GPU machine left in the config, and the
  plan says so); the prebuilt PyTorch CPU image (`vertex.cpu_image_uri`) when the config's image is a GPU
  one; OCRKIT_DEVICE=cpu.

`function` is not a Vertex endpoint; its planning lives with the Cloud Functions family.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.gcp.spec import GcpDeploySpec


@dataclass(frozen=True)
class VertexShape:
    option: ServingOption
    machine_type: str
    accelerator_type: str | None
    accelerator_count: int
    image_uri: str
    notes: tuple[str, ...] = ()

    @property
    def device(self) -> str:
        return "cuda" if self.accelerator_type else "cpu"


def vertex_shape(spec: GcpDeploySpec) -> VertexShape:
    vx = spec.vertex
    if spec.serving != ServingOption.cpu_endpoint:
        return VertexShape(
            spec.serving, vx.machine_type, vx.accelerator_type, vx.accelerator_count, vx.image_uri
        )
    notes = []
    machine = vx.machine_type
    if vx.accelerator_type:
        machine = vx.cpu_machine_type
        notes.append(
            f"cpu-endpoint runs on {machine} without an accelerator (vertex.cpu_machine_type): the config's "
            f"{vx.machine_type} + {vx.accelerator_type} is used by gpu-endpoint only"
        )
    image = vx.image_uri
    if "-gpu" in image.rsplit("/", 1)[-1]:
        image = vx.cpu_image_uri
        notes.append(f"cpu-endpoint serves with the CPU prediction image {image} (vertex.cpu_image_uri)")
    return VertexShape(spec.serving, machine, None, 0, image, tuple(notes))
