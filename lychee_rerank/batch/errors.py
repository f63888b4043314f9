"""The batch job's typed errors; each message says how to fix the call (the CLI prints it as one line)."""

from __future__ import annotations

from ..errors import LycheeRerankError


class ManifestError(LycheeRerankError, ValueError):
    """The manifest cannot be used: unknown format, required columns missing, duplicate ids, bad lines."""


class PartsExistError(LycheeRerankError):
    """Part files of an earlier run exist and neither ``--resume`` nor their removal was asked for."""


class ResumeMismatchError(LycheeRerankError):
    """``--resume`` with another manifest, model or scoring setting than the run that wrote the parts."""


class IncompleteJobError(LycheeRerankError):
    """The job ended with manifest rows that have no result; ``--resume`` finishes them."""


class ClusterError(LycheeRerankError):
    """The Ray engine cannot run: Ray is not installed, the cluster cannot be reached, or the job failed."""


class JobRunningError(LycheeRerankError):
    """Another job is writing the same ``OUT`` (it holds the lock in ``OUT.parts``)."""


class OutputError(LycheeRerankError, OSError):
    """``OUT`` or its parts cannot be written: a read-only folder, no permission, a full disk."""
