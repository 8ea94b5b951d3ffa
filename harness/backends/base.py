"""The backend seam: a model runtime turns chat conversations into raw output strings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import RoutecheckError

ProgressCallback = Callable[[int], None]
"""Called with the number of requests just finished, so callers can drive a progress bar."""


DTYPES = ("float32", "bfloat16")
"""``--rc-dtype`` values: weights as loaded, or a bfloat16 body under a float32 head."""


@dataclass(frozen=True)
class DecodingConfig:
    """How outputs are generated. Greedy always: variety is no virtue in a router."""

    max_new_tokens: int = field(
        default=128, metadata={"help": "Upper bound on generated tokens per case."}
    )
    batch_size: int = field(default=16, metadata={"help": "Cases per generate() batch."})
    format: str = field(
        default="json",
        metadata={
            "help": "Output format (json, native, openai-tools): how the prompt is built and "
            "when generation stops, so it belongs to the cache key."
        },
    )

    mode: str = field(
        default="free",
        metadata={
            "help": "free (the model writes anything) or constrained (a grammar built from "
            "the catalog lets it write only valid calls); in the cache key when constrained."
        },
    )

    lookup: int = field(
        default=0,
        metadata={
            "help": "Lookup decoding: draft tokens a step verifies, taken from n-gram matches "
            "in the prompt and the backend's lookup corpus (0: off). The output is the "
            "model's greedy output either way, so it is not in the cache key."
        },
    )

    lookup_tree: int = field(
        default=0,
        metadata={
            "help": "Lookup decoding: draft a token tree of up to this many tokens, the "
            "likeliest continuations (``lookup`` deep), verified in one pass; 0: a single "
            "draft. Trees save passes where the answer branches (which tool, which "
            "reason) and cost wider passes; not in the cache key."
        },
    )

    lookup_tree_first: int = field(
        default=0,
        metadata={
            "help": "Lookup decoding with trees: the tree's size on a request's first pass, "
            "the one that reads its prompt (0: ``lookup_tree``). That pass is wide already, "
            "so a draft token costs more there; not in the cache key."
        },
    )

    def __post_init__(self) -> None:
        if self.lookup < 0:
            raise ValueError(f"lookup must be >= 0, got {self.lookup}")
        if self.lookup_tree < 0:
            raise ValueError(f"lookup_tree must be >= 0, got {self.lookup_tree}")
        if self.lookup_tree_first < 0:
            raise ValueError(f"lookup_tree_first must be >= 0, got {self.lookup_tree_first}")
        if self.mode not in ("free", "constrained"):
            raise ValueError(f"mode must be free or constrained, got {self.mode!r}")
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
    tools: tuple[dict[str, Any], ...] | None = None
    """Tools in the OpenAI function shape, for formats that pass them beside the messages."""
    output_schema: dict[str, Any] | None = None
    """Constrained decoding: the JSON schema every output must match
    (:func:`harness.grammar.output_schema`); ``None`` for free decoding."""


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
    #: The ``--rc-decoding`` modes it can do (``constrained`` needs the model's logits).
    decodings: tuple[str, ...] = ("free",)

    @abstractmethod
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """Return one :class:`Generation` per request, in the order given."""

    def response_parser(self) -> Callable[[str], dict[str, Any]]:
        """Read a raw output in the model's own tool-call syntax back as an assistant message
        (``content`` and ``tool_calls``), for the ``native`` format; may raise ``ValueError``
        on output it cannot read. Backends that cannot say how their model writes calls
        refuse the format."""
        raise RoutecheckError(
            f"--rc-format native: the backend for --checkpoint {self.spec} cannot read "
            "tool calls in a model's own syntax; use a transformers checkpoint or mock:FILE"
        )

    def fingerprint(self) -> str:
        """A content hash of the weights (or replay file): same fingerprint, same outputs."""
        return "unknown"

    def describe(self) -> dict[str, Any]:
        """What results files record about the model: kind, paths, base model."""
        return {"kind": type(self).__name__, "spec": self.spec}
