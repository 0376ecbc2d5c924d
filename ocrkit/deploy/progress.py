"""Progress sinks for the deploy stages. The CLI renders events with rich; tests collect them in a list."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecordingEvents:
    """Keeps every event in order: ("step", message), ("progress", task, done, total), ("info", message)."""

    log: list[tuple] = field(default_factory=list)

    def step(self, message: str) -> None:
        self.log.append(("step", message))

    def progress(self, task: str, done: int, total: int | None) -> None:
        self.log.append(("progress", task, done, total))

    def info(self, message: str) -> None:
        self.log.append(("info", message))

    @property
    def steps(self) -> list[str]:
        return [e[1] for e in self.log if e[0] == "step"]

    @property
    def infos(self) -> list[str]:
        return [e[1] for e in self.log if e[0] == "info"]

    def progress_of(self, task: str) -> list[tuple[int, int | None]]:
        return [(e[2], e[3]) for e in self.log if e[0] == "progress" and e[1] == task]


class NullEvents:
    def step(self, message: str) -> None:
        pass

    def progress(self, task: str, done: int, total: int | None) -> None:
        pass

    def info(self, message: str) -> None:
        pass
