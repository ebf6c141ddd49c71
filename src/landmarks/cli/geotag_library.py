"""`landmarks geotag DIR` on the library index, `geotag apply` (write a reviewed plan), `geotag undo DIR`.

`geotag DIR` = plan (scan, predict what the index lacks, propose) then apply what it proposed;
`geotag DIR --plan` stops after the plan and writes it as a CSV to review. The model is loaded
only when some photo needs a prediction, so a rerun over an unchanged library takes seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from landmarks.cli.geotag import (
    _MAX_PROBLEM_LINES,
    DbOption,
    GeotagUsageError,
    TagsOption,
    WaitOption,
    _default_report,
    _say_removed,
    _shown,
)
from landmarks.errors import LandmarksError
from landmarks.geotag.metadata import SidecarName, WriteMode
from landmarks.library.estimate import EstimateOptions


@dataclass(frozen=True)
class LibraryRun:
    folder: Path
    db: Path | None
    checkpoint: Path | None
    device: str | None
    plan_only: bool
    plan_csv: Path | None
    min_confidence: float | None
    write: WriteMode
    sidecar_name: SidecarName
    recursive: bool
    overwrite_gps: bool
    report: Path | None
    geojson: Path | None
    batch_size: int
    wait: float = 30.0
    tags: bool | None = None
    backend: str = "auto"
    gallery: Path | None = None
    estimate: EstimateOptions | None = None
    """Also plan estimates for the photos around located ones (`--estimate-nearby`)."""
    estimate_report: Path | None = None


class _Bar:
    """A progress bar whose total is known only once the plan knows what to predict."""

    def __init__(self, desc: str) -> None:
        self._desc, self._bar, self._lock = desc, None, threading.Lock()

    def total(self, n: int) -> None:
        from tqdm import tqdm

        if n:
            self._bar = tqdm(total=n, unit="photo", desc=self._desc, disable=None, leave=False)

    def __call__(self, n: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_library(run: LibraryRun) -> None:
    from landmarks.geotag.plan import PlanOptions, model_id_of, plan_library
    from landmarks.geotag.plan_csv import write_plan
    from landmarks.geotag.report import check_report_path, check_writable
    from landmarks.inference.resolve import resolve_checkpoint
    from landmarks.library.db import open_library
    from landmarks.library.records import proposals, set_proposal_status
    from landmarks.retrieval.gallery import default_gallery_path, gallery_id_of

    checkpoint = resolve_checkpoint(run.checkpoint)
    model_id = model_id_of(checkpoint)
    gallery_path = default_gallery_path(checkpoint, run.gallery)
    gallery_id = gallery_id_of(gallery_path)
    report = None if run.plan_only else (run.report or _default_report())
    if report is not None:
        check_report_path(report)
    for output in (run.geojson, run.plan_csv, run.estimate_report):
        if output is not None:
            check_writable(output)

    def load() -> Any:
        from landmarks.inference.predictor import Predictor  # torch: only when something needs predicting

        return Predictor.load(checkpoint, device=run.device, backend=run.backend, gallery=gallery_path)

    options = PlanOptions(run.min_confidence, run.overwrite_gps, run.recursive, run.batch_size, scan_progress=True)
    with open_library(run.folder, run.db, lock_timeout=run.wait) as library:
        bar = _Bar("predict")
        try:
            plan = plan_library(
                library,
                load,
                model_id=model_id,
                gallery_id=gallery_id,
                options=options,
                progress=bar,
                on_total=bar.total,
            )
        finally:
            bar.close()
        typer.echo(
            f"{_shown(library.root)}: {plan.scan.present} photos (new {plan.scan.new}, changed {plan.scan.changed}),"
            f" predicted {plan.predicted}, proposed {len(plan.proposed)}"
        )
        if plan.recovered:
            typer.secho(f"settled {plan.recovered} write(s) an interrupted run had left unfinished", err=True)
        if run.estimate is not None:
            _estimate(library, run)
        if run.plan_only:
            path = run.plan_csv or _default_plan()
            lines = write_plan(library, path)
            typer.echo(f"plan: {_shown(path)} ({lines} proposals to review: fill the accept column with yes/no)")
            typer.echo(f"then: landmarks geotag apply --plan {_shown(path)}" + (f" --db {run.db}" if run.db else ""))
            return
        kinds = ("landmark", "estimate") if run.estimate is not None else ("landmark",)
        opened = [p.id for p in proposals(library, status="proposed") if p.kind in kinds]
        if opened:
            set_proposal_status(library, opened, "accepted")
        _apply(library, report=report, write=run.write, sidecar_name=run.sidecar_name,
               overwrite_gps=run.overwrite_gps, geojson=run.geojson, tags=run.tags)  # fmt: skip


def _estimate(library: Any, run: LibraryRun) -> None:
    """Estimates for the photos around the located ones, after the landmark proposals they build on."""
    from landmarks.cli.library import say_plan
    from landmarks.library.nearby import plan_estimates, write_report

    assert run.estimate is not None
    estimates = plan_estimates(library, run.estimate)
    say_plan(estimates)
    path = run.estimate_report or _default_report().with_name(f"estimates-{datetime.now():%Y%m%d-%H%M%S-%f}.csv")
    typer.echo(f"estimates: {_shown(write_report(estimates, path))} (every photo considered, and why)")


def _apply(library: Any, *, proposal_ids: list[int] | None = None, **kwargs: Any) -> None:
    from landmarks.geotag.apply import ApplyAction, apply_proposals
    from landmarks.library.export import export_geojson
    from landmarks.library.records import proposals
    from landmarks.library.stats import library_stats

    geojson = kwargs.pop("geojson", None)
    bar = _Bar("write")
    bar.total(len(proposal_ids) if proposal_ids is not None else len(proposals(library, status="accepted")))
    try:
        result = apply_proposals(library, proposal_ids=proposal_ids, progress=bar, **kwargs)
    finally:
        bar.close()
    _say_removed(result.temporaries_removed)
    problems = [i for i in result.items if i.action is not ApplyAction.WRITTEN]
    for item in problems[:_MAX_PROBLEM_LINES]:
        typer.secho(f"{item.action}: {_shown(item.path)}: {item.detail}", fg=typer.colors.YELLOW, err=True)
    if len(problems) > _MAX_PROBLEM_LINES:
        typer.secho(f"... and {len(problems) - _MAX_PROBLEM_LINES} more", err=True)
    stats = library_stats(library)
    typer.echo(f"geotagged {result.written} of {stats.photos} photos")
    for action, count in sorted(result.counts.items()):
        typer.echo(f"  {action:<32} {count:>6}")
    typer.echo("  located by: " + ", ".join(f"{k} {v}" for k, v in stats.located.items()))
    if result.report is not None:
        typer.echo(f"report: {_shown(result.report)}")
    if geojson is not None:
        export_geojson(library, geojson)
        typer.echo(f"map: {_shown(geojson)}")
    failed = result.counts.get(ApplyAction.FAILED, 0)
    if failed:
        raise LandmarksError(f"{failed} of the {len(result.items)} accepted photos could not be written (listed above)")


def _default_plan() -> Path:
    from landmarks.settings import cache_dir

    return cache_dir() / "geotag" / f"plan-{datetime.now():%Y%m%d-%H%M%S-%f}.csv"


FolderArg = Annotated[Path | None, typer.Argument(metavar="DIR", help="The library's root folder.", show_default=False)]


def apply(
    folder: FolderArg = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE.csv", help="A plan CSV: write its accepted lines.")
    ] = None,
    accepted_only: Annotated[
        bool, typer.Option("--accepted-only", help="Write the proposals accepted in the index (the default).")
    ] = False,
    db: DbOption = None,
    write: Annotated[WriteMode, typer.Option(case_sensitive=False, help="exif: into the photo; xmp: a sidecar.")] = (
        WriteMode.EXIF
    ),
    sidecar_name: Annotated[SidecarName, typer.Option(help="Sidecar naming for --write xmp.")] = SidecarName.APPEND,
    overwrite_gps: Annotated[bool, typer.Option("--overwrite-gps", help="Also replace GPS a photo has now.")] = False,
    report: Annotated[
        Path | None, typer.Option(metavar="FILE.csv", help="Per-photo report, also for --undo (default: cache).")
    ] = None,
    wait: WaitOption = 30.0,
    tags: TagsOption = None,
) -> None:
    """Write the accepted proposals: from a reviewed plan CSV (its accept column), or those accepted
    in the index (the review page). A photo deleted, renamed or changed since the plan is skipped."""
    from landmarks.geotag.plan_csv import decide_from_plan, read_plan
    from landmarks.geotag.report import check_report_path
    from landmarks.library.db import open_library

    if plan is not None and accepted_only:
        raise GeotagUsageError("give --plan FILE or --accepted-only, not both")
    lines = read_plan(plan) if plan is not None else []
    if folder is None:
        roots = {line.row.get("library") for line in lines} - {None, ""}
        if len(roots) != 1:
            raise GeotagUsageError("give the library folder (DIR): the plan does not name exactly one")
        folder = Path(roots.pop())  # type: ignore[arg-type]
    report = report or _default_report()
    check_report_path(report)
    with open_library(folder, db, lock_timeout=wait) as library:
        ids: list[int] | None = None
        if plan is not None:
            decided = decide_from_plan(library, lines)
            for line, why in decided.refused[:_MAX_PROBLEM_LINES]:
                typer.secho(f"refused: {_shown(plan)} line {line}: {why}", fg=typer.colors.YELLOW, err=True)
            typer.echo(
                f"plan: {len(decided.accepted)} accepted, {len(decided.rejected)} rejected,"
                f" {decided.undecided} undecided, {len(decided.refused)} refused"
            )
            ids = decided.accepted
        _apply(library, proposal_ids=ids, report=report, write=write, sidecar_name=sidecar_name,
               overwrite_gps=overwrite_gps, tags=tags)  # fmt: skip


def undo(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The library's root folder.", show_default=False)],
    kind: Annotated[
        str | None, typer.Option(metavar="KIND", help="Only proposals of this kind: landmark or estimate.")
    ] = None,
    db: DbOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Take back what geotag wrote into this library (as its index records), or only --kind estimate.
    A photo whose location changed since is left alone; exits 1 unless every photo is as it was."""
    from landmarks.geotag.library_undo import undo_library
    from landmarks.geotag.undo import UNDONE
    from landmarks.library.db import open_library

    with open_library(folder, db, lock_timeout=wait) as library:
        summary = undo_library(library, kind=kind)
    _say_removed(summary.temporaries_removed)
    if not summary.results:
        typer.echo("nothing to undo: the index records no applied write" + (f" of kind {kind}" if kind else ""))
        return
    not_undone = [r for r in summary.results if r.action not in UNDONE]
    for result in not_undone[:_MAX_PROBLEM_LINES]:
        typer.secho(f"{result.action}: {_shown(result.target)}: {result.detail}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"undid {len(summary.results) - len(not_undone)} of {len(summary.results)} writes:")
    for action, count in sorted(summary.counts.items()):
        typer.echo(f"  {action:<34} {count:>6}")
    if not_undone:
        raise LandmarksError(f"{len(not_undone)} of the {len(summary.results)} photos could not be restored")


def register(app: typer.Typer) -> None:
    app.command()(apply)
    app.command()(undo)
