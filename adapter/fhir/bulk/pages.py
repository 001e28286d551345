"""The manifests of one export and their files: polled, followed page by page, each file downloaded once.

Without `allowPartialManifests` there is one manifest, at the status URL, once the export is complete. With it
(STU3), a `202` may already carry a manifest of the files ready so far; a server never changes a manifest it has
returned except to add a `link` (relation `next`) to the next one, which may itself be partial. So each page is
asked again until it is complete (`200`) or links on; every new file (by URL) is downloaded as soon as a page
names it and handed to `on_file`, so screening can start on it. A file named again on a later page (the `error`
array repeats) is not downloaded twice; a link back to a page already read, or more than MAX_PAGES pages, fails
the export rather than loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapter.fhir.bulk.download import Budget, download
from adapter.fhir.bulk.job import poll
from adapter.fhir.bulk.manifest import ORGANIZED_STEM, Manifest, Namer, OutputFile, parse_manifest
from adapter.fhir.bulk.model import BulkExportError, DownloadLimits
from adapter.fhir.bulk.session import Session
from adapter.http import Deadline, clean_text, origin_of
from adapter.http.transport import display

ERROR_DIR = "error"
DELETED_DIR = "deleted"
MAX_PAGES = 10_000


@dataclass
class Collected:
    """What the pages delivered, in arrival order."""

    first: Manifest | None = None
    files: list[Path] = field(default_factory=list)
    error_files: list[Path] = field(default_factory=list)
    deleted_files: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    continued: list[tuple[Path, Path]] = field(default_factory=list)
    pages: int = 0  # manifest pages (distinct URLs) read


@dataclass
class Pages:
    """One export's manifest pages and downloads: one deadline, one byte budget, allowed origins only."""

    session: Session
    directory: Path
    deadline: Deadline
    waits: tuple[float, float]
    limits: DownloadLimits
    origins: frozenset[str]
    report: Callable[[str], None]
    on_file: Callable[[Path], None] | None = None
    budget: Budget = field(default_factory=Budget)
    got: Collected = field(default_factory=Collected)
    _paths: dict[str, Path | None] = field(default_factory=dict)  # file URL → where it went (None: refused)
    _names: dict[str, Namer] = field(default_factory=dict)
    _continuing: dict[str, str] = field(default_factory=dict)  # file URL → the file URL its last block continues in

    def collect(self, status_url: str, *, partial: bool) -> Collected:
        url, visited = status_url, {status_url}
        while True:
            status = poll(self.session, url, self.deadline, self.waits, self.report, partial=partial)
            manifest = parse_manifest(status.manifest, url, f"GET {display(url)}")
            self._take(manifest)
            if manifest.next_url is not None:
                url = self._next(manifest.next_url, visited)
                continue
            if status.complete:
                self._link_continuations()
                self.got.pages = len(visited)
                return self.got
            if status.wait >= self.deadline.remaining():
                raise BulkExportError(None, f"export not complete within the {self.deadline.seconds:g}s export "
                                            "timeout (partial manifest)", where=f"GET {display(url)}")
            self.session.sleep(status.wait)

    def _next(self, url: str, visited: set[str]) -> str:
        where = f"GET {display(url)}"
        if url in visited:
            raise BulkExportError(None, "the export manifest links back to a page already read", where=where)
        if len(visited) >= MAX_PAGES:
            raise BulkExportError(None, f"the export manifest has more than {MAX_PAGES} pages", where=where)
        origin = origin_of(url)
        if origin is None or origin not in self.origins:
            raise BulkExportError(None, f"the export manifest links to a page on {origin or 'an unusable URL'}, not "
                                        "the server's origin (allow it with --allow-file-origin)", where=where)
        visited.add(url)
        return url

    def _take(self, manifest: Manifest) -> None:
        got = self.got
        if got.first is None:
            got.first = manifest
        organized = got.first.organized_by is not None
        for entry in manifest.output:
            if entry.continues_in is not None:
                self._continuing.setdefault(entry.url, entry.continues_in)
            stem = ORGANIZED_STEM if organized or entry.type is None else entry.type
            path = self._fetch(entry, self.directory, stem, manifest.requires_access_token, got.files)
            if path is not None and self.on_file is not None:
                self.on_file(path)
        for entry in manifest.error:
            self._fetch(entry, self.directory / ERROR_DIR, entry.type or "OperationOutcome",
                        manifest.requires_access_token, got.error_files)
        for entry in manifest.deleted:
            self._fetch(entry, self.directory / DELETED_DIR, entry.type or "Bundle", manifest.requires_access_token,
                        got.deleted_files)

    def _fetch(self, entry: OutputFile, directory: Path, stem: str, credentials: bool,
               into: list[Path]) -> Path | None:
        """Download `entry` into `directory` unless it was seen before or its origin is not allowed."""
        if entry.url in self._paths:
            return None
        name = self._names.setdefault(str(directory), Namer()).name(stem)
        if not self._allowed(entry, stem):
            self._paths[entry.url] = None
            return None
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        try:
            size = download(self.session, entry.url, target, credentials=credentials, on_progress=self.report,
                            deadline=self.deadline, limits=self.limits, budget=self.budget)
        except OSError as exc:
            raise BulkExportError(None, f"cannot write {target}: {exc.strerror or exc}") from None
        self.report(f"downloaded {target.name} ({size} bytes)")
        self._paths[entry.url] = target
        into.append(target)
        return target

    def _allowed(self, entry: OutputFile, stem: str) -> bool:
        origin = origin_of(entry.url)
        if origin is not None and origin in self.origins:
            return True
        # Another origin may be the server's storage, or anywhere a hostile manifest points: asked, not assumed.
        message = (f"{entry.type or stem} file on {origin or 'an unusable URL'} not fetched: not the server's origin "
                   f"(allow it with --allow-file-origin): {clean_text(display(entry.url), 200)}")
        self.got.refused.append(message)
        self.report(message)
        return False

    def _link_continuations(self) -> None:
        """(file, file its last block continues in) for every `continuesInFile` whose both files were fetched."""
        for url, then_url in self._continuing.items():
            first, then = self._paths.get(url), self._paths.get(then_url)
            if first is not None and then is not None:
                self.got.continued.append((first, then))
