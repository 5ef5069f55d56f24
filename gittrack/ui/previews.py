"""Artifact listings and previews for the run page, always through the verified cache.

A preview names an artifact by the logical path recorded in the run's ``artifacts.yaml`` and,
inside a directory artifact, a file by the relative path of the artifact's own listing
(``Cache.open`` re-hashes the object before it opens). Nothing else on disk is reachable:
``../``, absolute paths and names the record does not hold are refused.
"""

from __future__ import annotations

import csv
import io
import posixpath
from typing import Any

from gittrack import query
from gittrack.artifacts.cache import Pointer
from gittrack.artifacts.local import cache_for, read_pointers
from gittrack.core.errors import ArtifactError
from gittrack.core.paths import check_tree_path
from gittrack.core.store import Store

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}
TEXT_SUFFIXES = (".txt", ".log", ".md", ".json", ".yaml", ".yml", ".py", ".cfg", ".toml",
                 ".ini", ".html", ".xml", ".sh", ".rst")
CSV_SUFFIXES = (".csv", ".tsv")
MAX_TEXT = 200_000
MAX_CSV_ROWS = 200
MAX_IMAGE = 20_000_000


def list_artifacts(store: Store, spec: str) -> list[dict[str, Any]]:
    """The run's artifacts: logical path, kind, size, and the files of a directory."""
    run = query.get(store, spec)
    cache = cache_for(store.repo)
    out = []
    for path, pointer in sorted(read_pointers(store, run.commit).items()):
        item: dict[str, Any] = {"path": path, "kind": pointer.kind, "size": pointer.size,
                                "nfiles": pointer.nfiles, "md5": pointer.md5,
                                "cached": False, "files": []}
        try:  # a listing that names a path git refuses is reported, never shown
            item["cached"] = cache.has(pointer)
            if pointer.isdir and item["cached"]:
                item["files"] = [{"path": rel, "size": size}
                                 for rel, _md5, size in cache.list_files(pointer)]
        except ArtifactError as exc:
            item["error"] = str(exc)
        out.append(item)
    return out


def _check_relpath(text: str) -> str:
    """A path from a request: it must pass git's tree-path rules (gittrack.core.paths)."""
    return check_tree_path(text, "Artifact path")


def _locate(store: Store, spec: str, path: str, file: str | None) -> tuple[Pointer, str | None,
                                                                            str]:
    """The pointer and inner path of a preview request; refuses anything the record lacks."""
    _check_relpath(path)
    if file:
        _check_relpath(file)
    run = query.get(store, spec)
    pointers = read_pointers(store, run.commit)
    pointer = pointers.get(path)
    if pointer is None:
        raise LookupError(f"Run {run.id} has no artifact '{path}'; see its artifacts list.")
    if pointer.isdir and not file:
        raise ArtifactError(f"Artifact '{path}' is a directory; name a file inside it.")
    name = file if pointer.isdir and file else path
    return pointer, (file if pointer.isdir else None), name


def read_bytes(store: Store, spec: str, path: str, file: str | None, limit: int) -> tuple[bytes,
                                                                                         str, bool]:
    """Up to ``limit`` verified bytes of an artifact file; ``(data, name, truncated)``."""
    pointer, inner, name = _locate(store, spec, path, file)
    with cache_for(store.repo).open(pointer, inner) as fh:
        data = fh.read(limit + 1)
    return data[:limit], name, len(data) > limit


def kind_of(name: str) -> str:
    """How a file is previewed: image, csv, model, text or binary (by its name)."""
    base = posixpath.basename(name).lower()
    suffix = posixpath.splitext(base)[1]
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if base == "model.yaml":
        return "model"
    if suffix in TEXT_SUFFIXES or base in ("requirements.txt", "mlmodel", "license"):
        return "text"
    return "binary"


def preview(store: Store, spec: str, path: str, file: str | None = None) -> dict[str, Any]:
    """What the page shows of one file: text, the first CSV rows, model.yaml, or an image URL."""
    pointer, _inner, name = _locate(store, spec, path, file)
    kind = kind_of(name)
    doc: dict[str, Any] = {"path": path, "file": file, "name": name, "type": kind}
    if kind == "image":
        doc["media_type"] = IMAGE_TYPES[posixpath.splitext(name.lower())[1]]
        return doc
    data, _name, truncated = read_bytes(store, spec, path, file, MAX_TEXT)
    doc["truncated"] = truncated
    text = data.decode("utf-8", errors="replace")
    if kind == "binary":
        doc["size"] = pointer.size if not pointer.isdir else None
        doc["text"] = text[:2000] if _looks_textual(data) else None
        return doc
    if kind == "csv":
        dialect = "excel-tab" if name.lower().endswith(".tsv") else "excel"
        rows = []
        for i, row in enumerate(csv.reader(io.StringIO(text), dialect=dialect)):
            if i > MAX_CSV_ROWS:
                doc["truncated"] = True
                break
            rows.append(row)
        doc["header"], doc["rows"] = (rows[0], rows[1:]) if rows else ([], [])
        return doc
    doc["text"] = text
    return doc


def _looks_textual(data: bytes) -> bool:
    sample = data[:2000]
    return b"\0" not in sample and sample.decode("utf-8", errors="replace").count("\ufffd") < 5
