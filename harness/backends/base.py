"""The backend seam: a model runtime turns chat conversations into raw output strings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

ProgressCallback = Callable[[int], None]
"""Called with the number of requests just finished, so callers can drive a progress bar."""


@dataclass(frozen=True)
class DecodingConfig:
    """How outputs are generated. Greedy always: variety is no virtue in a router."""

    max_new_tokens: int = field(
        default=128, metadata={"help": "Upper bound on generated tokens per case."}
    )
    batch_size: int = field(default=16, metadata={"help": "Cases per generate() batch."})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def as_dict(self) -> dict[str, Any]:
        """The settings recorded in results files and cache keys."""
        return {"do_sample": False, **asdict(self)}


@dataclass(frozen=True)
class GenerationRequest:
    """One conversation to complete; ``id`` lets replaying backends find their answer."""

    id: str
    messages: Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """One raw output. ``truncated`` means ``max_new_tokens`` cut it before it finished."""

    text: str
    truncated: bool = False
    new_tokens: int | None = None


class Backend(ABC):
    """A model runtime. Subclasses implement :meth:`generate`; one small file each."""

    #: The ``--checkpoint`` text this backend was built from.
    spec: str = ""
    #: Whether outputs may be cached by fingerprint (not for replays or remote servers,
    #: whose weights the fingerprint cannot see).
    cacheable: bool = True

    @abstractmethod
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """Return one :class:`Generation` per request, in the order given."""

    def fingerprint(self) -> str:
        """A content hash of the weights (or replay file): same fingerprint, same outputs."""
        return "unknown"

    def describe(self) -> dict[str, Any]:
        """What results files record about the model: kind, paths, base model."""
        return {"kind": type(self).__name__, "spec": self.spec}
