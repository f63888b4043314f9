"""Typed errors of lychee-rerank. Each message says what to do about it."""

from __future__ import annotations


class LycheeRerankError(Exception):
    """Base class of every error this package raises on purpose."""


class ModelNotFoundError(LycheeRerankError):
    """The model path or hub id cannot be found (or is not cached while offline)."""


class IncompleteModelError(ModelNotFoundError):
    """A model folder exists but lacks files needed to load it."""


class DemoModelMissingError(ModelNotFoundError):
    """``demo`` was asked for but the bundled demo model is not installed."""


class UnsupportedModelError(LycheeRerankError):
    """The model is not of a family we can rank with (``lychee-rerank models`` lists them)."""


class UnsupportedTaskError(LycheeRerankError, ValueError):
    """The model's family has no recipe for this query/document shape (e.g. MonoQwen2-VL and text documents)."""


class ModelLoadError(LycheeRerankError):
    """Loading failed for another reason (memory, dtype, quantization backend)."""


class InvalidQueryError(LycheeRerankError, ValueError):
    """The query is empty or otherwise unusable."""


class QueryImageError(InvalidQueryError):
    """The query image cannot be read: without it there is nothing to rank against."""


class NoImagesError(LycheeRerankError, ValueError):
    """No images were given or found."""


class TooManyImagesError(LycheeRerankError, ValueError):
    """More images than the configured per-run cap."""


class ScoringFailedError(LycheeRerankError):
    """The model (or a progress callback) failed in the middle of a run.

    ``ranking`` keeps what was scored before the failure, the rest marked ``skipped`` (as a stopped run does).
    """

    def __init__(self, message: str, ranking: object = None):
        super().__init__(message)
        self.ranking = ranking


class InvalidSettingError(LycheeRerankError, ValueError):
    """A setting (dtype, mode, device, batch size...) has a value we do not accept."""


class UnsafeSidecarError(LycheeRerankError, ValueError):
    """An existing XMP sidecar is malformed, too large or declares entities: it is reported and left untouched."""


class OutputFolderError(LycheeRerankError, OSError):
    """A folder that sidecars or copies would be written into cannot be written; nothing was written."""


class ModelProcessError(LycheeRerankError):
    """The app's model process ended or stopped answering; the model is loaded again on the next run."""


class UploadSpoolError(LycheeRerankError, OSError):
    """The app could not keep a run's uploads in its temporary folder (the disk is full, TMPDIR cannot be written)."""
