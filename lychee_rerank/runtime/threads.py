"""How many CPU threads torch uses for a run, and which of a run's threads gives way when they share a core.

torch's default is one thread per core. For a model whose layers are small (the demo model,
the tests' tiny models), each operation is over before the threads have met: a team of
OpenMP threads costs more than it gives, and a sibling descheduled by anything else on the
machine (a browser, the thread preparing the next batch) stalls the whole team. Such a model
runs on one thread; a larger one keeps torch's setting unless the caller asks for a count.

On the CPU the model's thread is a run's slowest step, and the thread preparing the next
images must not take its core: beside a browser on two cores, the model thread waited on the
run queue for ~9% of a run while the two shared. The preparing thread there runs at a lower
priority (a higher nice value), so it uses what the model leaves and the model waits less.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..errors import InvalidSettingError
from ..settings import SMALL_MODEL_PARAMS

PREPARE_NICE_CPU = 10  # the preparing thread's nice value is raised this much on the CPU: the model's thread first
_MOST_NICE = 19

logger = logging.getLogger(__name__)


def compute_parameters(model: Any) -> int:
    """Parameters outside the embedding table (and a tied LM head): the work done per token."""
    embeddings = model.get_input_embeddings()
    table = embeddings.weight.numel() if embeddings is not None else 0
    return sum(parameter.numel() for parameter in model.parameters()) - table


def run_threads(model: Any, device: str, requested: int | None) -> int | None:
    """Torch threads for this model's runs: ``requested``, else one for a small model on the CPU, else None (as set).

    Raises InvalidSettingError for a count below one.
    """
    if requested is not None:
        if requested < 1:
            raise InvalidSettingError(f"cpu_threads must be 1 or more (got {requested}); None picks for the model")
        return requested
    if device == "cpu" and compute_parameters(model) < SMALL_MODEL_PARAMS:
        return 1
    return None


def threads_in_use(count: int | None) -> int:
    """The thread count a run set to ``count`` uses."""
    return torch.get_num_threads() if count is None else count


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` (None: left alone) for the block, then put back.

    Not put back after Ctrl+C or SystemExit: the process is leaving, and setting the count rebuilds
    torch's thread pools, work with no use while the interpreter shuts down beside a stuck thread.
    """
    if count is None or count == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    except Exception:
        torch.set_num_threads(previous)
        raise
    torch.set_num_threads(previous)


def prepare_nice(device: str) -> int:
    """How much the preparing thread gives way to the model's: on the CPU the model is the slow step; on a GPU
    the preparing thread may be, and keeps its priority."""
    return PREPARE_NICE_CPU if device == "cpu" else 0


def give_way(steps: int) -> None:
    """Raise the calling thread's nice value by ``steps`` (at most to 19), so it yields the CPU to the process's
    other threads when they want the same core.

    Linux only: there each thread has its own nice value; elsewhere ``setpriority`` would lower the whole process,
    so nothing is done. A thread cannot lower its nice value again, so call it on a thread made for the work.
    """
    if steps <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + steps, _MOST_NICE))
    except OSError as exc:  # a sandbox that forbids it: the run goes on at the usual priority
        logger.debug("could not lower the priority of thread %d: %s", thread, exc)
