"""Write every form of a check report into one directory and store the model card."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.reports.html import render_html
from mlpilot.reports.model_card import model_card, model_card_html

if TYPE_CHECKING:
    from mlpilot.checks._report import CheckReport
    from mlpilot.core.entities import ModelVersion
    from mlpilot.store import Store

FILES = ("report.json", "report.html", "model_card.md", "model_card.html")
"""The files :func:`write_reports` writes, in order."""


def report_json(report: CheckReport) -> str:
    """The report's versioned JSON form (``schema_version`` first), strict and indented."""
    return json.dumps(json_safe(report.to_dict()), indent=2, allow_nan=False,
                      default=str) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` next to ``path`` and rename it in place: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: CheckReport, version: ModelVersion, out_dir: str | Path,
                  store: Store, *, annotate: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.html``, ``model_card.md`` and ``model_card.html``.

    Args:
        report: the check report of ``version``.
        version: the checked version.
        out_dir: the directory to write into (created if missing).
        store: the metadata store, read for the model card's lineage.
        annotate: also store the Markdown model card on the version
            (``store.annotate_version(..., model_card=...)``).

    Returns:
        ``{file name: path}`` for the four files.

    Raises:
        InvalidArgument: if ``out_dir`` exists and is not a directory, or cannot be written.
    """
    out = Path(out_dir)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidArgument(
            f"The report directory {str(out)!r} is a file; give a directory with --out."
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"Cannot create the report directory {str(out)!r}: {exc.strerror}."
        ) from None
    card_md = model_card(store, version, report)
    texts = {
        "report.json": report_json(report),
        "report.html": render_html(report, version),
        "model_card.md": card_md,
        "model_card.html": model_card_html(store, version, report),
    }
    paths: dict[str, Path] = {}
    for name in FILES:
        paths[name] = out / name
        try:
            _write_atomic(paths[name], texts[name])
        except OSError as exc:
            raise InvalidArgument(
                f"Cannot write {str(paths[name])!r}: {exc.strerror or exc}."
            ) from None
    if annotate:
        store.annotate_version(version.model, version.version, model_card=card_md,
                               reason="mlpilot check: model card generated")
    return paths
