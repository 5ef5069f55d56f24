"""Tests of gittrack.artifacts.cache: a real dvc-data store on disk, no mocks."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gittrack.artifacts.cache import (
    Cache,
    Pointer,
    open_remote,
    safe_join,
    validate_artifact_path,
)
from gittrack.core.errors import (
    ArtifactError,
    IntegrityError,
    InvalidInputError,
    UnsafePathError,
)

MB = 1 << 20


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def make_dir(root: Path, n: int) -> dict[str, bytes]:
    files = {f"d{i % 10}/f{i}.bin": os.urandom(i % 97) + str(i).encode() for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def write_object(cache: Cache, data: bytes, suffix: str = "") -> str:
    """Plant a raw object, as a crafted or pulled store could hold it."""
    oid = hashlib.md5(data).hexdigest() + suffix
    path = cache.object_path(oid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return oid


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "git" / "gittrack" / "cache")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


# ------------------------------------------------------------- pointer


def test_pointer_round_trip() -> None:
    p = Pointer(md5="0" * 32 + ".dir", size=3, nfiles=2, kind="model")
    assert Pointer.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("bad", [
    {"md5": "x", "size": 1, "nfiles": 1, "kind": "file"},
    {"md5": "0" * 32, "size": -1, "nfiles": 1, "kind": "file"},
    {"md5": "0" * 32, "size": True, "nfiles": 1, "kind": "file"},
    {"md5": "0" * 32, "size": 1, "nfiles": 1, "kind": "dir"},
    {"md5": "0" * 32 + ".dir", "size": 1, "nfiles": 1, "kind": "file"},
    {"md5": "0" * 32, "size": 1, "nfiles": 1, "kind": "blob"},
    {"md5": "../../" + "0" * 26, "size": 1, "nfiles": 1, "kind": "file"},
    {"md5": "0" * 32, "size": 1},
    ["not", "a", "mapping"],
])
def test_pointer_from_dict_refuses_garbage(bad: object) -> None:
    with pytest.raises(ArtifactError):
        Pointer.from_dict(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------- add


def test_cache_is_created_lazily(cache: Cache) -> None:
    assert not cache.path.exists()
    assert cache.size() == 0


def test_same_big_file_added_100_times_is_stored_once(cache: Cache, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(MB))
    cache.path.mkdir(parents=True)
    before = tree_bytes(cache.path)
    pointers = {cache.add(src) for _ in range(100)}
    grown = tree_bytes(cache.path) - before
    assert len(pointers) == 1
    assert 50 * MB <= grown < 51 * MB
    assert pointers.pop().size == 50 * MB


def test_a_small_file_is_stored_as_dvc_data_stores_it(cache: Cache, tmp_path: Path) -> None:
    # Files up to SMALL_FILE bypass dvc-data (speed); the object, its place and its mode are
    # what dvc-data's build and transfer make of the same file, one byte over the limit.
    from gittrack.artifacts.cache import SMALL_FILE

    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    data = os.urandom(SMALL_FILE)
    small.write_bytes(data)
    big.write_bytes(data + b"x")
    fast, slow = cache.add(small), cache.add(big)
    assert fast == Pointer(hashlib.md5(data).hexdigest(), SMALL_FILE, 1, "file")
    for pointer, content in ((fast, data), (slow, data + b"x")):
        path = cache.object_path(pointer.md5)
        assert path.read_bytes() == content and oct(path.stat().st_mode & 0o777) == "0o444"
    assert cache.add(small) == fast  # identical content: the same object, stored once


def test_cache_never_shares_an_inode_with_the_source(cache: Cache, tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"hello")
    p = cache.add(src)
    assert os.stat(cache.object_path(p.md5)).st_ino != os.stat(src).st_ino
    src.write_bytes(b"edited")
    cache.verify(p)


def test_add_bytes_and_identical_file_share_an_object(cache: Cache, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes(b"same")
    assert cache.add_bytes(b"same", "t.txt") == cache.add(tmp_path / "t.txt")
    with cache.open(cache.add_bytes(b"same", "t.txt")) as f:
        assert f.read() == b"same"


def test_add_refuses_missing_source_and_wrong_kind(cache: Cache, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        cache.add(tmp_path / "nope")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(InvalidInputError):
        cache.add(tmp_path / "f", kind="model")
    with pytest.raises(InvalidInputError):
        cache.add_bytes(b"x", "../x")


# ------------------------------------------------------------- directories


def test_directory_of_1000_files_round_trips(cache: Cache, ws: Path) -> None:
    files = make_dir(ws / "data", 1000)
    p = cache.add(ws / "data")
    assert (p.kind, p.nfiles, p.size) == ("dir", 1000, sum(map(len, files.values())))
    assert cache.has(p)
    listed = cache.list_files(p)
    assert sorted(rel for rel, _, _ in listed) == sorted(files)
    for rel, md5, size in listed:
        assert (md5, size) == (hashlib.md5(files[rel]).hexdigest(), len(files[rel]))
    for path in sorted((ws / "data").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (ws / "data").rmdir()
    cache.checkout(p, safe_join(ws, "data"))
    assert tree_files(ws / "data") == files
    with cache.open(p, "d3/f3.bin") as f:
        assert f.read() == files["d3/f3.bin"]


def test_model_kind_is_a_directory(cache: Cache, ws: Path) -> None:
    (ws / "m").mkdir()
    (ws / "m" / "model.yaml").write_text("flavor: sklearn\n")
    p = cache.add(ws / "m", kind="model")
    assert p.kind == "model" and p.md5.endswith(".dir")
    cache.checkout(p, ws / "restored")
    assert (ws / "restored" / "model.yaml").read_text() == "flavor: sklearn\n"


# ------------------------------------------------------------- integrity


def test_corrupt_object_is_detected_everywhere(cache: Cache, ws: Path) -> None:
    src = ws / "w.bin"
    src.write_bytes(os.urandom(3 * MB))
    p = cache.add(src)
    corrupt(cache.object_path(p.md5))
    with pytest.raises(IntegrityError, match=p.md5):
        cache.verify(p)
    with pytest.raises(IntegrityError, match=p.md5):
        cache.open(p)
    with pytest.raises(IntegrityError, match=p.md5):
        cache.checkout(p, ws / "out" / "w.bin")
    assert list((ws / "out").iterdir()) == []
    assert cache.object_path(p.md5).exists()  # evidence kept, unlike the store's own check()


def test_corrupt_file_inside_dir_is_detected(cache: Cache, ws: Path) -> None:
    make_dir(ws / "d", 20)
    p = cache.add(ws / "d")
    _, md5, _ = cache.list_files(p)[5]
    corrupt(cache.object_path(md5))
    with pytest.raises(IntegrityError, match=md5):
        cache.verify(p)
    with pytest.raises(IntegrityError):
        cache.checkout(p, ws / "out" / "d")
    assert list((ws / "out").iterdir()) == []


def test_missing_object_is_reported(cache: Cache, ws: Path) -> None:
    (ws / "f").write_bytes(b"gone")
    p = cache.add(ws / "f")
    cache.object_path(p.md5).unlink()
    assert not cache.has(p)
    with pytest.raises(ArtifactError, match="pull"):
        cache.verify(p)


# ------------------------------------------------------------- unsafe paths


@pytest.mark.parametrize("relpath", ["../../outside", "/etc/passwd", "a/../../outside", "", "C:/x"])
def test_safe_join_refuses_escapes(ws: Path, relpath: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(ws, relpath)


def test_safe_join_refuses_symlinked_parent_leaving_workspace(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (ws / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="symlink"):
        safe_join(ws, "link/x.bin")
    (ws / "inner").mkdir()
    (ws / "ok").symlink_to(ws / "inner")
    assert safe_join(ws, "ok/x.bin") == ws.resolve() / "ok" / "x.bin"
    with pytest.raises(UnsafePathError, match="empty or '.' component"):
        safe_join(ws, "./ok//x.bin")  # a recorded path is never normalised: git refuses it


@pytest.mark.parametrize("relpath", ["../../outside", "/tmp/abs-outside", "a/../../../outside"])
def test_crafted_listing_writes_nothing_outside(cache: Cache, tmp_path: Path, relpath: str) -> None:
    ws = tmp_path / "deep" / "ws"
    ws.mkdir(parents=True)
    body = os.urandom(16)
    file_oid = write_object(cache, body)
    listing = [{"md5": file_oid, "relpath": "ok.txt"}, {"md5": file_oid, "relpath": relpath}]
    dir_oid = write_object(cache, json.dumps(listing).encode(), ".dir")
    p = Pointer(md5=dir_oid, size=32, nfiles=2, kind="dir")
    before = sorted(tmp_path.rglob("*"))
    for attempt in (lambda: cache.checkout(p, ws / "out"), lambda: cache.open(p, "ok.txt"),
                    lambda: cache.list_files(p)):
        with pytest.raises(UnsafePathError):
            attempt()
    assert sorted(tmp_path.rglob("*")) == before
    assert not Path("/tmp/abs-outside").exists()


def test_crafted_listing_with_bad_hashes_is_refused(cache: Cache, ws: Path) -> None:
    listing = [{"md5": "../../x", "relpath": "a"}]
    dir_oid = write_object(cache, json.dumps(listing).encode(), ".dir")
    with pytest.raises(ArtifactError):
        cache.checkout(Pointer(dir_oid, 1, 1, "dir"), ws / "out")
    assert not (ws / "out").exists()


# ------------------------------------------------------------- gc


def test_gc_dry_run_reports_exactly_what_gc_deletes(cache: Cache, ws: Path) -> None:
    make_dir(ws / "keep", 30)
    make_dir(ws / "drop", 30)
    (ws / "keep.bin").write_bytes(b"k" * 1000)
    (ws / "drop.bin").write_bytes(b"d" * 1000)
    keep = [cache.add(ws / "keep"), cache.add(ws / "keep.bin")]
    drop = [cache.add(ws / "drop"), cache.add(ws / "drop.bin")]
    size_before = cache.size()
    planned = cache.gc(keep, dry_run=True)
    assert cache.size() == size_before
    gone_before = {p for p in planned.paths if Path(p).exists()}
    assert gone_before == set(planned.paths) and planned.objects == len(planned.paths) > 0
    done = cache.gc(keep)
    assert done == planned
    assert not any(Path(p).exists() for p in done.paths)
    assert cache.size() == size_before - done.bytes
    assert cache.gc(keep, dry_run=True).objects == 0
    assert not any(cache.has(p) for p in drop)
    for i, p in enumerate(keep):
        cache.checkout(p, ws / "restored" / str(i))
    assert tree_files(ws / "restored" / "0") == tree_files(ws / "keep")


def test_gc_refuses_when_a_kept_listing_is_corrupt(cache: Cache, ws: Path) -> None:
    make_dir(ws / "d", 5)
    p = cache.add(ws / "d")
    corrupt(cache.object_path(p.md5))
    with pytest.raises(IntegrityError):
        cache.gc([p])
    assert len(list(cache.objects_dir.rglob("*.dir"))) == 1


# ------------------------------------------------------------- checkout


def test_checkout_refuses_local_edits_without_force(cache: Cache, ws: Path) -> None:
    (ws / "m.bin").write_bytes(b"v1")
    p = cache.add(ws / "m.bin")
    cache.checkout(p, ws / "m.bin")  # identical: nothing to do
    (ws / "m.bin").write_bytes(b"v2, edited")
    with pytest.raises(ArtifactError, match="force"):
        cache.checkout(p, ws / "m.bin")
    assert (ws / "m.bin").read_bytes() == b"v2, edited"
    cache.checkout(p, ws / "m.bin", force=True)
    assert (ws / "m.bin").read_bytes() == b"v1"


def test_checkout_refuses_edited_directory_without_force(cache: Cache, ws: Path) -> None:
    files = make_dir(ws / "d", 10)
    p = cache.add(ws / "d")
    (ws / "d" / "extra.txt").write_bytes(b"new")
    with pytest.raises(ArtifactError):
        cache.checkout(p, ws / "d")
    cache.checkout(p, ws / "d", force=True)
    assert tree_files(ws / "d") == files
    assert not [p for p in ws.iterdir() if p.name.startswith(".")]


def test_checkout_by_hardlink_and_bad_link_type(cache: Cache, ws: Path) -> None:
    (ws / "a").write_bytes(b"abc")
    p = cache.add(ws / "a")
    cache.checkout(p, ws / "b", link="hardlink")
    assert (ws / "b").read_bytes() == b"abc"
    with pytest.raises(InvalidInputError):
        cache.checkout(p, ws / "c", link="symlink")


# ------------------------------------------------------------- remotes


def test_local_remote_push_then_pull_into_fresh_cache(cache: Cache, ws: Path, tmp_path: Path) -> None:
    files = make_dir(ws / "d", 50)
    (ws / "f.bin").write_bytes(os.urandom(MB))
    pointers = [cache.add(ws / "d"), cache.add(ws / "f.bin")]
    remote = open_remote(str(tmp_path / "remote"))
    assert len(remote.missing(pointers, cache)) == 50 + 1 + 1
    assert remote.push(cache, pointers) == 52
    assert remote.missing(pointers) == []
    assert remote.push(cache, pointers) == 0

    fresh = Cache(tmp_path / "clone" / "cache")
    same = open_remote((tmp_path / "remote").as_uri())
    assert same.pull(fresh, pointers) == 52
    for p in pointers:
        fresh.verify(p)
    fresh.checkout(pointers[0], ws / "copy")
    assert tree_files(ws / "copy") == files


def test_pull_of_unknown_artifact_fails_clearly(cache: Cache, tmp_path: Path) -> None:
    remote = open_remote(str(tmp_path / "empty-remote"))
    with pytest.raises(ArtifactError, match="lacks"):
        remote.pull(cache, [Pointer("1" * 32 + ".dir", 1, 1, "dir")])
    with pytest.raises(ArtifactError, match="lacks"):
        remote.pull(cache, [Pointer("1" * 32, 1, 1, "file")])


def test_push_refuses_corrupt_objects(cache: Cache, ws: Path, tmp_path: Path) -> None:
    (ws / "f").write_bytes(b"payload")
    p = cache.add(ws / "f")
    corrupt(cache.object_path(p.md5))
    with pytest.raises(IntegrityError):
        open_remote(str(tmp_path / "r")).push(cache, [p])


# ------------------------------------------------------------- logical paths


def test_validate_artifact_path_examples() -> None:
    assert validate_artifact_path("./models//m.pkl/") == "models/m.pkl"
    for bad in ["", ".", "../x", "/x", "a/../b", "a\\b", "C:/x"]:
        with pytest.raises(InvalidInputError):
            validate_artifact_path(bad)


PATHISH = st.lists(st.sampled_from(["a", "b", ".", "..", "/", "\\", ":", "C", " ", "é", "\x00"]), max_size=20)


@given(st.one_of(PATHISH.map("".join), st.text()))
def test_validate_artifact_path_never_escapes_and_is_idempotent(p: str) -> None:
    try:
        out = validate_artifact_path(p)
    except InvalidInputError:
        return
    parts = out.split("/")
    assert out and not out.startswith("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert validate_artifact_path(out) == out
    assert posixpath.normpath(posixpath.join("/base", out)).startswith("/base/")


def test_empty_directory_and_unsafe_file_names(cache: Cache, ws: Path) -> None:
    (ws / "empty").mkdir()
    p = cache.add(ws / "empty")
    assert (p.nfiles, p.size) == (0, 0)
    cache.checkout(p, ws / "again")
    assert list((ws / "again").iterdir()) == []
    (ws / "odd").mkdir()
    (ws / "odd" / "a\\b").write_bytes(b"x")
    with pytest.raises(InvalidInputError):
        cache.add(ws / "odd")


def test_open_remote_refuses_memory_and_unknown_schemes() -> None:
    with pytest.raises(ArtifactError):
        open_remote("memory://bucket/store")
    with pytest.raises(ArtifactError):
        open_remote("nosuchscheme://x/y")
