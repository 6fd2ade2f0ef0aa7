"""Tasks and modalities: which modality the queries are and which the gallery is.

A task (``i2t``, ``cir``, ``a2v``, …) names the query modality and the gallery modality. A
modality is ``image``, ``text``, ``audio``, ``video``, or a composition of them such as
``image+text`` (a reference image with a modification text), whose items are
:class:`ComposedQuery` tuples. Tasks are registry entries (kind ``task``), so a plug-in or a
test can add one with its own modality names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from qshift import registry

#: the modalities of the built-in tasks
MODALITIES = ("image", "text", "audio", "video", "image+text")


@dataclass(frozen=True)
class Task:
    """A retrieval task: queries of one modality against a gallery of another."""

    name: str
    query: str
    gallery: str

    def __str__(self) -> str:
        return self.name


class ComposedQuery(NamedTuple):
    """One composed query: a reference image (H×W×3 uint8) and a modification text."""

    image: Any
    text: str


I2T = Task("i2t", "image", "text")
T2I = Task("t2i", "text", "image")
CIR = Task("cir", "image+text", "image")
A2V = Task("a2v", "audio", "video")
V2A = Task("v2a", "video", "audio")
A2T = Task("a2t", "audio", "text")
T2A = Task("t2a", "text", "audio")
V2T = Task("v2t", "video", "text")
T2V = Task("t2v", "text", "video")


def get_task(task: str | Task) -> Task:
    """The registered task named ``task`` (a :class:`Task` passes through); ValueError otherwise."""
    if isinstance(task, Task):
        return task
    if not isinstance(task, str) or task not in registry.names("task"):
        available = ", ".join(registry.names("task"))
        raise ValueError(f"unknown task (direction) {task!r}; available: {available}")
    return registry.load("task", task)


def task_names() -> list[str]:
    """Every registered task name."""
    return registry.names("task")


def parts(modality: str) -> tuple[str, ...]:
    """The single modalities of a (possibly composed) modality: ``image+text`` → (image, text)."""
    return tuple(modality.split("+"))


def is_composed(modality: str) -> bool:
    """True for a composed modality such as ``image+text``."""
    return "+" in modality
