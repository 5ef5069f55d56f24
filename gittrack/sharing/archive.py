"""``gittrack archive``: fold the refs of finished runs into one archive ref per experiment.

The archive commit is written and its ref moved first (compare-and-swap on its old value),
then the folded run refs are deleted in one ``git update-ref --stdin`` transaction, each
expecting the commit that was folded. So a crash in between loses nothing (the run is both
folded and still a ref, and the ref wins), and a run changed meanwhile (resumed, tagged)
keeps its ref, which stays newer than what the archive lists. The format and how archived
runs are read are in gittrack.core.archive and docs/format.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from gittrack.core import archive, journal, names
from gittrack.core.errors import GitError, InvalidInputError
from gittrack.core.packs import remove_packed_refs
from gittrack.core.store import Store
from gittrack.query.index import Index
from gittrack.sharing import leftovers

TERMINAL = ("finished", "failed", "killed", "crashed")
ZERO = "0" * 40
MAX_DAYS = 1_000_000  # ~2,700 years: datetime's range holds any cutoff of that age


@dataclass
class Folded:
    """What archiving one experiment did (or would do, in a dry run)."""

    experiment: str
    ref: str  # the archive ref
    folded: int  # run refs folded now
    total: int  # runs the archive lists afterwards
    stay: int  # run refs left: live, running, or ended after the cutoff
    moved: int = 0  # folded runs whose ref moved meanwhile: their ref stays
    commit: str | None = None


def archive_experiments(store: Store, days: float, experiments: Sequence[str] = (),
                        dry_run: bool = False, now: dt.datetime | None = None) -> list[Folded]:
    """Fold the runs of ``experiments`` (every experiment with run refs when empty) that
    ended more than ``days`` days ago."""
    if not isinstance(days, (int, float)) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS:
        raise InvalidInputError(f"The age must be a number of days from 0 to {MAX_DAYS:,}; "
                                f"got {days!r}.")
    cutoff = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=days)
    chosen = list(experiments) or _with_refs(store)
    known = set(store.experiments())
    for name in chosen:
        names.validate_name("experiment", name)
        if name not in known:
            raise InvalidInputError(f"No experiment '{name}' in this repository; list them "
                                    "with `gittrack experiments`.")
    return [fold(store, name, cutoff, dry_run) for name in chosen]


def _with_refs(store: Store) -> list[str]:
    found = set()
    for ref in store.repo.list_refs(names.RUNS_PREFIX):
        parsed = names.parse_run_ref(ref)
        if parsed:
            found.add(parsed[0])
    return sorted(found)


def fold(store: Store, experiment: str, cutoff: dt.datetime, dry_run: bool = False) -> Folded:
    """Fold the run refs of ``experiment`` whose run ended (finished, failed, killed or
    crashed) at or before ``cutoff`` into its archive."""
    repo = store.repo
    component = names.encode_component(experiment)
    ref = archive.ref_name(component)
    refs = {r: c for r, c in repo.list_refs(names.experiment_ref_prefix(experiment)).items()
            if names.parse_run_ref(r) is not None}
    chosen = _ended_before(store, refs, cutoff)
    previous = repo.resolve_ref(ref)
    listed = archive.read(repo, previous) if previous else {}
    runs = {**listed, **{r.rpartition("/")[2]: c for r, c in chosen.items()}}
    result = Folded(experiment, ref, len(chosen), len(runs), len(refs) - len(chosen))
    if dry_run or not chosen:
        return result
    message = (f"gittrack archive: {experiment} ({len(chosen)} run(s) folded, {len(runs)} "
               f"in all)\n\nended before: {cutoff.isoformat()}\n")
    commit = archive.write(repo, experiment, runs, [previous] if previous else [],
                           list(chosen.values()), message)
    if not leftovers.update_refs(repo, [f"update {ref} {commit} {previous or ZERO}"]):
        raise GitError(f"The archive of '{experiment}' changed while it was written (another "
                       "`gittrack archive` or a pull); run `gittrack archive` again.")
    loose = repo.list_loose_refs(names.experiment_ref_prefix(experiment))
    packed = {r: c for r, c in chosen.items() if r not in loose}
    # one that moved meanwhile (a loose ref now) or went is not deleted
    result.moved += len(packed) - len(remove_packed_refs(repo.common_dir, packed))
    # a ref moved meanwhile keeps its newer record: the others go
    result.moved += leftovers.update_refs_each(
        repo, [f"delete {r} {c}" for r, c in chosen.items() if r in loose])
    result.commit = commit
    return result


def _ended_before(store: Store, refs: dict[str, str], cutoff: dt.datetime) -> dict[str, str]:
    """The refs whose run has ended at or before ``cutoff`` and is not live."""
    if not refs:
        return {}
    # not complete: the other experiments' rows stay in the index for their own fold
    table, rows = Index(store).table(list(refs.values()))
    statuses = table.take("status", rows)
    ends = table.take("end_time", rows)
    live = store.repo.state_dir / "journal"
    out = {}
    for (ref, commit), status, end in zip(refs.items(), statuses, ends):  # damaged: no status
        when = _time(end)
        if status in TERMINAL and when is not None and when <= cutoff \
                and not journal.is_live(live, ref.rpartition("/")[2]):
            out[ref] = commit
    return out


def _time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
