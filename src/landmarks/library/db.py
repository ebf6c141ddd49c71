"""The library index: one SQLite database per photo library (stdlib `sqlite3`, WAL mode).

Why SQLite: one file, no server, transactions that survive a killed run, and readers (stats, the
review page) that do not block the run writing. The database lives in the cache folder, keyed by
the library's resolved path, so nothing is ever written into the photo folders unless `--db` says so.

A run that changes the index holds the library lock (`LibraryLock`) for its whole life; every
`sqlite3` failure (a damaged file, a database locked past the busy timeout, a full disk) surfaces
as one `LibraryError` line, and no photo is touched on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from landmarks.errors import LibraryError
from landmarks.library.lock import LibraryLock
from landmarks.library.schema import CURRENT_VERSION, MIGRATIONS, statements
from landmarks.settings import cache_dir

BUSY_TIMEOUT_S = 10.0
"""How long one statement waits for another connection's write transaction before giving up."""
LOCK_TIMEOUT_S = 30.0
"""How long a run waits for another run on the same library before refusing."""


def now() -> str:
    """The index's timestamps: ISO 8601 UTC, sortable as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_db_path(root: Path, cache: Path | None = None) -> Path:
    """`<cache>/libraries/<folder name>-<sha of the resolved path>.sqlite`: one index per library."""
    resolved = Path(root).expanduser().resolve()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", resolved.name or "root").strip("._")[:40] or "root"
    key = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return cache_dir(cache) / "libraries" / f"{slug}-{key}.sqlite"


@dataclass(frozen=True)
class PhotoRow:
    """One photo as the index knows it (a `photos` row)."""

    id: int
    path: str
    """POSIX path relative to the library root."""
    size: int
    mtime_ns: int
    digest: str | None
    """SHA-256 of the file's bytes (`landmarks.data.decode.file_digest`); None when unreadable."""
    status: str
    error: str | None
    file_type: str | None
    width: int | None
    height: int | None
    datetime_original: str | None
    """EXIF DateTimeOriginal exactly as the photo gives it."""
    offset_time_original: str | None
    """EXIF OffsetTimeOriginal as given (`+02:00`), or the offset an XMP date carried."""
    taken_local_s: float | None
    """The camera clock's wall time as seconds since 1970 read as if UTC: compares photos of one camera."""
    taken_utc: str | None
    """The UTC instant (ISO 8601), only when an offset is known."""
    taken_utc_s: float | None
    make: str | None
    model: str | None
    serial: str | None
    gps_lat: float | None
    gps_lon: float | None
    gps_source: str | None
    """Where existing GPS came from: exif, xmp, location_shown, location_created."""
    gps_in_sidecar: int
    gps_error_m: float | None
    """GPSHPositioningError, when the GPS came with one."""
    sidecar: str | None
    sidecar_size: int | None
    sidecar_mtime_ns: int | None
    first_seen: str
    changed_at: str
    missing_since: str | None

    @property
    def gps(self) -> tuple[float, float] | None:
        return None if self.gps_lat is None or self.gps_lon is None else (self.gps_lat, self.gps_lon)

    @property
    def camera(self) -> tuple[str | None, str | None, str | None]:
        """(make, model, serial): photos with the same key share one clock."""
        return self.make, self.model, self.serial


PHOTO_COLUMNS = tuple(f.name for f in fields(PhotoRow))


def photo_from_row(row: sqlite3.Row) -> PhotoRow:
    return PhotoRow(**{name: row[name] for name in PHOTO_COLUMNS})


@contextlib.contextmanager
def sql_errors(db_path: Path) -> Iterator[None]:
    """sqlite3's exceptions as one clear line naming the database."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise LibraryError(
                f"the library index {db_path} is locked by another program; try again when it has finished"
            ) from exc
        raise LibraryError(f"the library index {db_path} cannot be used: {text}") from exc
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"the library index {db_path} is damaged or not a landmarks index ({exc}); "
            "move it away to start a new one, or pass --db"
        ) from exc


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """0 for an empty database; raises sqlite3.DatabaseError for a file that is not one."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in tables:
        if tables:
            raise sqlite3.DatabaseError("it holds tables but no schema_version")
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = CURRENT_VERSION) -> int:
    """Apply the migrations a database lacks, up to `target`, one transaction each."""
    version = schema_version(conn)
    if version > CURRENT_VERSION:
        raise LibraryError(
            f"the library index is at schema version {version}, newer than this landmarks ({CURRENT_VERSION}): "
            "upgrade landmarks"
        )
    if version == 0:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    # Foreign keys off while migrating (SQLite's way to rebuild a table others refer to: dropping it
    # must not cascade), checked before each commit instead; the pragma only works outside a transaction.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        while version < target:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(MIGRATIONS[version]):
                    conn.execute(statement)
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise sqlite3.IntegrityError(f"migration {version + 1} broke a foreign key")
                conn.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (version + 1, now()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            version += 1
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return version


class LibraryDB:
    """An open library index. `open_library()` makes one; use it as a context manager."""

    def __init__(self, root: Path, path: Path, conn: sqlite3.Connection, lock: LibraryLock | None) -> None:
        self.root = root
        self.path = path
        self.conn = conn
        self._lock = lock

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> LibraryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writable(self) -> bool:
        """Whether this handle holds the library lock (only such a handle may change the index)."""
        return self._lock is not None and self._lock.held

    # -- access ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT); rolled back on any error."""
        if not self.writable:
            raise LibraryError(f"the library index {self.path} was opened read-only")
        with sql_errors(self.path):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with sql_errors(self.path):
            return self.conn.execute(sql, params).fetchall()

    @property
    def version(self) -> int:
        with sql_errors(self.path):
            return schema_version(self.conn)

    def abspath(self, photo: PhotoRow | str) -> Path:
        """The file on disk (the index stores paths relative to the root)."""
        return self.root / (photo.path if isinstance(photo, PhotoRow) else photo)

    def photos(self, status: str | None = "present") -> list[PhotoRow]:
        """Photos in path order; `status=None` for all, missing and unreadable ones included."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        return [photo_from_row(r) for r in self.query(f"SELECT * FROM photos {where} ORDER BY path", params)]

    def photo(self, photo_id: int) -> PhotoRow | None:
        rows = self.query("SELECT * FROM photos WHERE id = ?", (photo_id,))
        return photo_from_row(rows[0]) if rows else None

    def photo_by_path(self, path: str) -> PhotoRow | None:
        rows = self.query("SELECT * FROM photos WHERE path = ?", (path,))
        return photo_from_row(rows[0]) if rows else None


def open_library(
    root: Path | str,
    db: Path | str | None = None,
    *,
    readonly: bool = False,
    lock_timeout: float = LOCK_TIMEOUT_S,
    cache: Path | None = None,
) -> LibraryDB:
    """Open (and create or upgrade) the index of the library at `root`.

    A writer takes the library lock first (waiting up to `lock_timeout` for another run), then
    migrates. A reader (`readonly=True`: stats, export) takes no lock and needs an existing, current
    index; it reads the last committed state while a run goes on.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LibraryError(f"{root} is not a folder")
    root = root.resolve()
    path = Path(db).expanduser().absolute() if db is not None else default_db_path(root, cache)
    if readonly and not path.is_file():
        raise LibraryError(f"{root} has no library index yet ({path}): run `landmarks library scan {root}` first")
    lock = None
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot create the folder for the library index {path}: {exc.strerror}") from exc
        lock = LibraryLock(path).acquire(lock_timeout)
    try:
        with sql_errors(path):
            conn = _connect(path) if not readonly else _connect_readonly(path)
            try:
                _prepare(conn, root, path, readonly)
            except BaseException:
                conn.close()
                raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return LibraryDB(root, path, conn, lock)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _prepare(conn: sqlite3.Connection, root: Path, path: Path, readonly: bool) -> None:
    version = schema_version(conn)
    if readonly:
        if version != CURRENT_VERSION:
            raise LibraryError(
                f"the library index {path} is at schema version {version}, not {CURRENT_VERSION}: "
                f"run `landmarks library scan {root}` to upgrade it"
            )
    else:
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise LibraryError(f"the library index {path} cannot use SQLite's WAL mode (a network file system?)")
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn)
        conn.execute(
            "INSERT OR IGNORE INTO library (key, value) VALUES ('root', ?), ('created', ?)", (str(root), now())
        )
    stored = conn.execute("SELECT value FROM library WHERE key = 'root'").fetchone()
    if stored is not None and stored[0] != str(root):
        raise LibraryError(f"the library index {path} belongs to {stored[0]}, not {root}: pass another --db")
