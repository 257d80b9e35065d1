"""The results store: a directory that outlives the driver, one JSON record per finished trial.

    STORE/
      sweep.json            the spec (its checked tables), name, created / updated times
      sweep.lock            held by the driver while it runs (a second driver on the store is refused)
      trials/KEY.json       one record per finished trial, KEY = the trial's hash (spec.Trial.key)
      graphs/KEY.nir        the trial's traced graph (NIR HDF5; neuromap.load reads it)
      report.html, results.json, results.csv, pareto.png     written by neuromap.sweep.report

Every file is written atomically (:mod:`neuromap.atomic`): a record is there whole or not at all,
and the graph is written before the record, so a record always points at a complete graph. The
driver writes the store (workers return their results to it), so only the driver's machine needs
it; on a cluster, put it on the head node or on storage the driver sees.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neuromap.atomic import write_bytes, write_text
from neuromap.errors import InputError, OutputError

from .spec import Spec

MANIFEST = "sweep.json"
LOCK = "sweep.lock"  # held (flock) by the driver writing the store; the kernel releases it when that process ends
FORMAT = "neuromap-sweep"
VERSION = 1
STATUSES = ("done", "error", "lost")  # finished: measured / the trial raised / its worker died every attempt


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A sweep's results directory (see the module docstring). Open it with :meth:`create` (a run)
    or :meth:`open` (reading, e.g. for a report)."""

    def __init__(self, path: str | Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._lock: Any = None

    # --- opening ------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, spec: Spec, resume: bool = False) -> Store:
        """The store for a run of ``spec`` at ``path``: a new one (``path`` absent or an empty
        directory), or with ``resume`` the existing one, whose spec is then replaced by ``spec``
        (records are keyed by their whole trial configuration, so a record is only reused by a
        trial that is identical). Refuses a directory that is not a store, a store without
        ``resume`` and ``resume`` without a store."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise OutputError(f"--store {path}: is a file, not a directory")
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            store = cls.open(path)
            store.lock()
            if not resume:
                store.close()
                raise InputError(f"--store {path} already holds sweep {store.manifest.get('name')!r} "
                                 f"({len(store.keys())} finished trials): add --resume to continue it, or give "
                                 "another --store")
            store.manifest.update(spec=spec.to_dict(), name=spec.name, spec_source=spec.source, updated_utc=_now())
            store._write_manifest()
            return store
        if resume:
            raise InputError(f"--resume: {path} holds no sweep ({MANIFEST} not found); run without --resume to start one")
        if path.is_dir() and any(path.iterdir()):
            raise OutputError(f"--store {path}: is a directory that is not a sweep store (no {MANIFEST}); "
                              "give a new or empty directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --store {path}: {exc.strerror or exc}") from exc
        now = _now()
        store = cls(path, {"format": FORMAT, "version": VERSION, "name": spec.name, "spec": spec.to_dict(),
                           "spec_source": spec.source, "created_utc": now, "updated_utc": now})
        store.lock()
        store._write_manifest()
        return store

    def lock(self) -> None:
        """Take the store's driver lock (``sweep.lock``, an advisory ``flock``), or raise
        :class:`InputError` naming the driver that holds it: two drivers on one store would run the
        same trials twice. The kernel releases the lock when the holder exits, however it ends."""
        import fcntl
        import os
        import socket

        fh = open(self.path / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held open until close()
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise InputError(f"--store {self.path} is in use by another sweep driver ({holder}); wait for it to end "
                             "or stop it, then --resume") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n")  # who holds it, for that message
        fh.flush()
        self._lock = fh

    def close(self) -> None:
        """Release the driver lock (if held)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """An existing store (read-only use is fine); :class:`InputError` if ``path`` holds none."""
        path = Path(path)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: not a sweep store ({MANIFEST} not found)") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path / MANIFEST}: cannot read it ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise InputError(f"{path / MANIFEST}: not a neuromap sweep manifest")
        if manifest.get("version") != VERSION:
            raise InputError(f"{path / MANIFEST}: store format version {manifest.get('version')!r}; this neuromap "
                             f"reads version {VERSION}")
        return cls(path, manifest)

    def spec(self) -> Spec:
        """The spec of the store's last run."""
        return Spec.from_dict(self.manifest["spec"], self.manifest.get("spec_source", str(self.path / MANIFEST)))

    def _write_manifest(self) -> None:
        write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")

    # --- records ------------------------------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.path / "trials" / f"{key}.json"

    def graph_path(self, key: str) -> Path:
        return self.path / "graphs" / f"{key}.nir"

    def keys(self) -> list[str]:
        """Keys of every record in the store (of this spec's trials or earlier ones)."""
        folder = self.path / "trials"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of trial ``key``, or None if it has not finished. A record that cannot be read
        (edited by hand) counts as unfinished, with a warning: the trial runs again."""
        path = self.record_path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            warnings.warn(f"{path}: unreadable record ({exc}); the trial runs again", stacklevel=2)
            return None
        if not isinstance(record, dict) or record.get("key") != key or record.get("status") not in STATUSES:
            warnings.warn(f"{path}: not a trial record of key {key}; the trial runs again", stacklevel=2)
            return None
        return record

    def write(self, record: dict[str, Any], graph: bytes | None = None) -> Path:
        """Write ``record`` (and its graph first, when given) atomically; returns the record's path."""
        key = record["key"]
        for sub in ("trials", "graphs"):
            (self.path / sub).mkdir(exist_ok=True)
        if graph is not None:
            write_bytes(self.graph_path(key), graph)
            record["graph"] = str(self.graph_path(key).relative_to(self.path))
        return write_text(self.record_path(key), json.dumps(record, indent=1, sort_keys=True, allow_nan=True) + "\n")
