"""What a batch job is asked to do: a plain value the CLI builds and either engine runs (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidSettingError

ENGINES = ("local", "ray")
GENERATED_PRESET = "generated"  # scoring.prompts' preset for generated art (own-prompt rows)
DEFAULT_CHUNK_ROWS = 256
# The options that decide a score: a resume with other values would mix two jobs in one output.
SCORE_SETTINGS = ("mode", "family", "base_model", "dtype", "max_pixels", "min_pixels", "quantization")


@dataclass(frozen=True)
class BatchJob:
    """One ``lychee-rerank batch`` run.

    ``reranker_options`` are :meth:`Reranker.from_pretrained` keyword arguments; ``chunk_rows`` is
    the rows per part file (and per Ray batch): at most that many are scored again after a crash.
    ``workers``, ``gpus_per_worker`` (None: one GPU per worker where the cluster has GPUs, else
    none) and ``address`` (None: ``RAY_ADDRESS``, else a local cluster) are the Ray engine's.
    ``progress_bar`` None means a bar when stderr is a terminal. ``query_from_metadata``: a row without
    a query (or a manifest without the column) is scored against its generated image's own prompt, with
    the instruction preset for generated art unless ``instruction`` says otherwise.
    """

    manifest: Path
    out: Path
    model: str
    reranker_options: dict[str, Any] = field(default_factory=dict)
    instruction: str | None = None
    engine: str = "local"
    resume: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = 1
    gpus_per_worker: float | None = None
    address: str | None = None
    progress_bar: bool | None = None
    query_from_metadata: bool = False  # rows without a query are scored against their image's own prompt

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidSettingError(f"engine must be one of {', '.join(ENGINES)} (got {self.engine!r})")
        if self.chunk_rows < 1 or self.workers < 1:
            raise InvalidSettingError("--chunk-size and --workers must be at least 1")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise InvalidSettingError("--gpus-per-worker cannot be negative")
        if Path(self.out).resolve() == Path(self.manifest).resolve():
            raise InvalidSettingError("--out names the manifest itself; give another file for the results")

    def settings_record(self) -> dict[str, Any]:
        """What must not change between a run and its ``--resume`` (recorded in the parts folder)."""
        options = {key: self.reranker_options.get(key) for key in SCORE_SETTINGS}
        record = {"manifest": str(Path(self.manifest).resolve()), "model": self.model,
                  "instruction": self.instruction, **options}
        if self.query_from_metadata:  # recorded only when on, so a job written before this option resumes
            record["query_from_metadata"] = True
        return record

    @property
    def scoring_instruction(self) -> str | None:
        """The instruction the rows are scored with: the generated-art preset for own prompts unless one is given."""
        return self.instruction or (GENERATED_PRESET if self.query_from_metadata else None)
