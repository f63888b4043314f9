"""The part files of a job: ``OUT.parts/`` beside the output, written atomically as the job goes.

A part is a Parquet file of scored rows (all manifest columns, the hidden ones, the results). It
is written to a temporary name, synced, then renamed, so a job killed at any moment (Ctrl-C,
``kill -9``, a lost node) leaves only whole parts; ``--resume`` reads their ids and skips those
rows. ``job.json`` records the settings that decide the scores and the manifest's content (size
and SHA-256), so a resume with another model or an edited manifest is refused rather than mixed.
Every start takes the folder's OS lock (:mod:`.lock`): two jobs never write one folder. The folder
is removed once the output is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .columns import ID
from .errors import PartsExistError, ResumeMismatchError
from .lock import JobLock

logger = logging.getLogger(__name__)

JOB_FILE = "job.json"
CONTENT = "manifest_content"  # the job record's key for the manifest's fingerprint
STAGING = "input"  # the Ray engine's copy of the rows still to score; not results
TMP_SUFFIX = ".tmp"


def parts_dir(out: Path) -> Path:
    """Where the parts of the job writing ``out`` live: ``OUT.parts`` beside it."""
    return out.with_name(out.name + ".parts")


class PartStore:
    """The ``OUT.parts`` folder of one job; :meth:`prepare` takes its lock, :meth:`release` lets it go."""

    def __init__(self, folder: Path, out: Path | None = None):
        self.folder = folder
        self.lock = JobLock(folder, out or folder.with_name(folder.name.removesuffix(".parts")))

    def prepare(self, settings: dict[str, Any], resume: bool) -> None:
        """Create the folder and lock it, or lock an existing one and check it may be resumed with ``settings``."""
        if self.folder.exists() and not resume:
            if self.lock.held_elsewhere():
                raise self.lock.refusal()
            raise PartsExistError(
                f"{self.folder} holds the parts of an earlier run of this job: pass --resume to continue it, "
                "or delete the folder to start over"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            self._record(settings)
        except BaseException:
            self.lock.release()
            raise

    def release(self) -> None:
        """Let another job use this output (the OS does it too when the process ends)."""
        self.lock.release()

    def _record(self, settings: dict[str, Any]) -> None:
        job_file = self.folder / JOB_FILE
        if not job_file.exists():
            atomic_write(job_file, lambda path: path.write_text(json.dumps(settings, indent=2) + "\n", "utf-8"))
            return
        recorded = json.loads(job_file.read_text(encoding="utf-8"))
        content = recorded.pop(CONTENT, None)
        now = {key: value for key, value in settings.items() if key != CONTENT}
        changed = [f"{key} was {recorded.get(key)!r}, now {now.get(key)!r}"
                   for key in sorted(now.keys() | recorded.keys()) if now.get(key) != recorded.get(key)]
        if changed:
            raise ResumeMismatchError(
                f"--resume with other settings than the run that wrote {self.folder} ({'; '.join(changed)}): "
                "give the same ones, or delete the folder to start over"
            )
        self._check_content(content, settings.get(CONTENT))

    def _check_content(self, recorded: Any, now: Any) -> None:
        if recorded is None:
            logger.warning("%s was written by an older version that did not record the manifest's content; "
                           "an edited manifest cannot be noticed on this resume", self.folder)
        elif now is not None and recorded != now:
            raise ResumeMismatchError(
                f"the manifest changed since the run that wrote {self.folder} ({recorded['bytes']} bytes then, "
                f"{now['bytes']} now; other content): resume with the manifest as it was, or delete the folder "
                "to score the edited manifest from the start"
            )

    def result_files(self) -> list[Path]:
        """Every whole part (local or Ray), in name order: local parts are named by their first row."""
        staging = self.folder / STAGING
        return sorted(path for path in self.folder.rglob("*.parquet")
                      if staging not in path.parents and not path.name.startswith("."))

    def done_ids(self) -> set[Any]:
        """The ids already written; unreadable parts (a write cut short) and temporary files are removed."""
        for leftover in self.folder.rglob(f"*{TMP_SUFFIX}"):
            leftover.unlink()
        done: set[Any] = set()
        for path in self.result_files():
            try:
                done.update(pq.read_table(path, columns=[ID]).column(ID).to_pylist())
            except (pa.ArrowInvalid, OSError) as exc:
                logger.warning("%s is incomplete (%s); its rows will be scored again", path.name, exc)
                path.unlink()
        return done

    def write(self, table: pa.Table, first_row: int) -> Path:
        """Write ``table`` as the part starting at manifest row ``first_row``, atomically."""
        path = self.folder / f"part-{first_row:012d}.parquet"
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        return path

    def staging(self) -> Path:
        """An empty folder for the Ray engine's staged manifest."""
        folder = self.folder / STAGING
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def atomic_write(path: Path, write: Any) -> None:
    """``write(tmp)`` then fsync and rename to ``path``: readers never see half a file."""
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    try:
        write(tmp)
        with open(tmp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written file on a full disk would only take more of its space
        raise
