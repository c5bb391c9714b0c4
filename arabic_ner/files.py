"""Output files and folders: checked before any work, written whole or not at all.

A command checks its output paths first, so a typo in `-o` costs nothing, not a whole run; and
writes each file under a temporary name that is renamed when complete, so a reader (or an
interrupted run) never sees half a file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from arabic_ner.errors import UserError, held_stops
from arabic_ner.messages import plural

try:
    import fcntl  # POSIX: the locks below
except ImportError:  # Windows: no lock, everything runs unguarded
    fcntl = None
LOCKS = fcntl is not None  # whether a lock file guards anything here


def lock(file, shared: bool = False, wait: bool = False) -> bool:
    """Locks the open `file` (flock: released as it closes, or as its process dies, even killed):
    False only when another holder has it and `wait` is off. Where there are no locks (Windows; a
    file system whose locks fail, as NFS's emulated flock refuses some) it answers True: the work
    goes on unguarded, as it did before the locks. The file is opened for writing for an exclusive
    lock, as NFS needs."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(file, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        pass  # a file system without locks
    return True


def locked_now(path: Path) -> bool:
    """Whether a live process holds `path`'s lock now (a shared lock is refused); False where there is
    no such file, or no locks. Reads only: it creates no file and needs no right to write."""
    while True:
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed by the with below)
        except OSError:
            return False
        with file:
            if not lock(file, shared=True):
                return True
            # A locked file can leave its path as its holder ends (a partial output renamed into place,
            # ResumableLines): a lock got on it then says nothing of a run that started since on a new
            # file at the path (gone, and no new one: the next open answers).
            if is_file_at(file, path):
                return False


def is_file_at(file, path: Path) -> bool:
    """Whether the open `file` is still the one at `path`; False where `path` is gone. A run's lock
    holder removes its file as it ends, and the next run makes a new one (run_folder)."""
    try:
        return os.fstat(file.fileno()).st_ino == path.stat().st_ino
    except OSError:
        return False


def check_output_files(outputs: dict[str, Path | None], inputs: list[Path] = (),
                       keep_out_of: dict[str, Path] | None = None) -> None:
    """Each output (named by its option, e.g. `-o`) can be written: its folder exists, it is not a
    folder, it is none of `inputs` (writing would destroy them), it replaces no file inside the
    folders `keep_out_of` names (what -> folder: a model being read) and no two options share a path."""
    seen: dict[Path, str] = {}
    sources = {_identity(p) for p in inputs if Path(p).is_file()}
    kept = {what: Path(folder).resolve() for what, folder in (keep_out_of or {}).items()}
    for option, path in outputs.items():
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{option} {path}: is a folder; name a file")
        folder = path.parent
        if not folder.is_dir():
            raise UserError(f"{option} {path}: no such folder {folder}")
        if not os.access(folder, os.W_OK):
            raise UserError(f"{option} {path}: folder {folder} is not writable")
        if path.exists() and _identity(path) in sources:
            raise UserError(f"{option} {path}: is also an input; writing it would destroy the input")
        check_replaceable(path, option)
        key = path.resolve()
        for what, inside in kept.items():
            if path.exists() and key.is_relative_to(inside):
                raise UserError(f"{option} {path}: would replace a file of {what} {inside}; name a file elsewhere")
        if key in seen:
            raise UserError(f"{option} {path}: {seen[key]} writes there too; give each output its own file")
        seen[key] = option


def check_replaceable(path: Path, option: str = "") -> None:
    """An output is written whole under a temporary name, then renamed over `path`: that would put a
    regular file in place of a device or a pipe (`-o /dev/null`, run as root, replaced the machine's
    /dev/null) or of a symbolic link (the link lost, the file it points to left as it was). Refused
    in one line, before any work."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there yet
    name = f"{option} {path}" if option else str(path)
    if stat.S_ISLNK(mode):
        raise UserError(f"{name}: is a symbolic link (to {Path(path).resolve()}), which the output would replace; "
                        f"name a regular file")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder: each caller says what it expects
        raise UserError(f"{name}: is not a regular file (a device, a pipe or a socket); name a file")


def check_model_folder(folder: Path) -> None:
    """One line where `folder` is no folder: missing, or a file of a model named instead of it. Here,
    not in model.py: predict checks its options before torch and transformers load."""
    if not Path(folder).is_dir():
        raise UserError(f"{folder}: " + ("a file, not a model folder" if Path(folder).exists() else "no such model folder"))


def check_output_folder(path: Path, option: str) -> None:
    """The folder `path` exists or can be created (nothing is created yet: a run that then fails on
    its input leaves no empty folder behind)."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise UserError(f"{option} {path}: folder {existing} is not writable")


def make_output_folder(path: Path, option: str) -> None:
    """Create the folder `path` (and its parents), or fail with one line naming `option`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot create the folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: folder is not writable")


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, in hex: has a data file changed since a run started with it?"""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_atomic(path: str | Path, content: str) -> None:
    write_files({path: content})


def write_files(contents: dict[str | Path, str | Callable[[Path], None]], renames: dict[Path, Path] | None = None,
                removals: tuple[Path, ...] = ()) -> None:
    """Write each file whole or not at all, and the set of them together: every file (its text, or
    a function that writes it at the path it is given, for one larger than memory) goes to a
    temporary name first, then all are renamed with Ctrl-C and SIGTERM held back, so that a stop
    leaves either all of them or none (say `-o` written and `--html` missing). The temporary names
    are hidden and carry the process id: no two outputs (`-o a.tmp --html a`), no two processes and
    no file of the user's share one. `renames` (complete files written elsewhere, source: target)
    and `removals` happen in the same held block, after the others."""
    tmps = {Path(path): Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp") for path in contents}
    for path in [*tmps, *(renames or {}).values()]:
        check_replaceable(path)
    try:
        for (path, tmp), content in zip(tmps.items(), contents.values()):
            try:
                if isinstance(content, str):
                    tmp.write_text(content, encoding="utf-8")
                else:
                    content(tmp)
            except OSError as exc:
                raise UserError(f"{path}: cannot write ({exc.strerror})") from None
        with held_stops():
            for path, tmp in [*tmps.items(), *((target, source) for source, target in (renames or {}).items())]:
                try:
                    tmp.replace(path)
                except OSError as exc:
                    raise UserError(f"{path}: cannot write ({exc.strerror})") from None
            for path in removals:
                with contextlib.suppress(OSError):
                    Path(path).unlink(missing_ok=True)
    finally:  # whatever stopped it (a full disk, text UTF-8 cannot hold, Ctrl-C), leave no half file
        for tmp in tmps.values():
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def readable_as_usual(folder: Path) -> None:
    """Give the files in `folder` the mode any new file gets here (0644 under the usual umask 022):
    safetensors writes its weights 0600, so a model was unreadable to the other users of a shared
    machine (a server run as another user)."""
    mask = os.umask(0)
    os.umask(mask)
    for path in Path(folder).iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~mask)


_BESIDE = ".arabic-ner-"  # in the names below: says whose a hidden file is


def beside(target: Path, role: str) -> Path:
    """The hidden `.<name>.arabic-ner-<role>` next to `target` this project keeps for it (its lock,
    its swap folders): a name that says whose it is, since such files get removed or renamed, and
    `<name>.tmp` or `<name>.old` is what a user calls a backup (review 11 lost one that way)."""
    target = Path(target)
    return target.with_name(f".{target.name}{_BESIDE}{role}")


def is_beside(path: Path) -> bool:
    """Whether `path` is one of the names `beside` gives."""
    name = Path(path).name
    return name.startswith(".") and _BESIDE in name


def swap_folders(target: Path) -> tuple[Path, Path]:
    """The two folders a `replace_folder` of `target` uses: the new copy written beside it, and the
    old one stepped aside."""
    return beside(target, "new"), beside(target, "old")


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the complete folder `tmp` (`swap_folders(target)[0]`) in place of `target`. A folder cannot
    be renamed over a non-empty one, so `target` steps aside first; `recover_swap` finishes the swap
    if a crash falls between the two renames."""
    old = swap_folders(target)[1]
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_swap(target: Path) -> None:
    """Finish a `replace_folder` cut between its renames: the old copy stepped aside without `target`
    means the new copy was already complete (the old one steps aside only then)."""
    tmp, old = swap_folders(target)
    if not target.exists() and old.is_dir():
        try:
            (tmp if tmp.is_dir() else old).rename(target)
        except OSError:
            if not target.exists():
                raise  # else another process of the same run finished it first


def _identity(path: Path) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_dev, stat.st_ino


class ResumableLines:
    """A line-per-record output (JSONL) that grows by whole chunks and survives any stop.

    Lines go to a hidden `.NAME.partial` beside the output: each chunk is appended, flushed and
    fsynced, and only then does the manifest `.NAME.partial.json` (the run's `fingerprint`, records
    and bytes written; itself fsynced before its rename) move on, so it never counts more than the
    disk holds, whatever stops the run (Ctrl-C, SIGTERM, SIGKILL, power loss). `resume=True` cuts
    the partial file back to the manifest's bytes (a chunk cut short is dropped whole) and `records`
    says how many to skip; a fingerprint other than the interrupted run's is one line naming what
    differs. One writer at a time: the partial file is locked until `close` (or the `with` block's
    end), and the caller gives the complete file its name (`write_files`, `renames=`) before that,
    so that no second run takes over the records between the last chunk and the rename."""

    def __init__(self, path: str | Path, fingerprint: dict, resume: bool = False):
        self.path, self.fingerprint = Path(path), fingerprint
        self.partial, self.manifest = self.files_of(self.path)
        state = self.interrupted(self.path, resume)
        if state is not None:
            differ = sorted(k for k in {*fingerprint, *state["fingerprint"]}
                            if fingerprint.get(k) != state["fingerprint"].get(k))
            if differ:
                had = state["fingerprint"]
                before = ", ".join(f"{k} {had.get(k)!r}" if not isinstance(had.get(k), list) else f"other {k}"
                                   for k in differ)
                raise UserError(f"{self.path}: --resume with another {', '.join(differ)} than the interrupted run "
                                f"(it had {before}); run it as before, or delete {self.partial} and "
                                f"{self.manifest} to start over")
            self.records, self.bytes = state["records"], state["bytes"]
        else:
            self.records, self.bytes = 0, 0
        try:
            self.file = open(self.partial, "ab")  # noqa: SIM115 (kept open across chunks; closed by close)
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write {self.partial} ({exc.strerror})") from None
        # one writer at a time: a second run on the same output (a scheduler's requeue with --resume
        # while the first still runs) would interleave its chunks with the first's. Held until close,
        # which the caller leaves until the output has its name.
        if not lock(self.file):
            self.file.close()
            raise self._busy(self.path)
        try:
            self.file.truncate(self.bytes)  # a chunk cut short is dropped whole; appends go on from here
        except OSError as exc:
            self.file.close()
            raise UserError(f"{self.path}: cannot write {self.partial} ({exc.strerror})") from None

    def __enter__(self) -> ResumableLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def _busy(cls, path: Path) -> UserError:
        partial = cls.files_of(path)[0]
        return UserError(f"{path}: another run is writing it now ({partial} is locked); wait for it to end or stop "
                         f"it, then run again (with --resume after a stop)")

    @classmethod
    def refuse_if_written_now(cls, paths: list[Path]) -> None:
        """One line if a live run holds the partial file of any of `paths` (its lock): its records are
        no interrupted run's, to resume or to delete and start over."""
        for path in paths:
            if locked_now(cls.files_of(Path(path))[0]):
                raise cls._busy(Path(path))

    @staticmethod
    def files_of(path: Path) -> tuple[Path, Path]:
        """The partial file and the manifest beside `path`."""
        return path.with_name(f".{path.name}.partial"), path.with_name(f".{path.name}.partial.json")

    @classmethod
    def state_of(cls, path: str | Path) -> dict | None:
        """The manifest of an interrupted run of `path`, or None (none, or nothing worth keeping: no
        record written, or the output renamed into place before the manifest's removal; such a manifest
        is removed)."""
        path = Path(path)
        partial, manifest = cls.files_of(path)
        if not manifest.exists():
            return None
        try:
            state = json.loads(manifest.read_text(encoding="utf-8"))
            state = {**state, "records": int(state["records"]), "bytes": int(state["bytes"]),
                     "fingerprint": dict(state["fingerprint"])}
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{manifest}: not a manifest this program wrote; delete it and {partial} to "
                            f"start over") from None
        if state["records"] == 0 or (not partial.exists() and path.exists()):
            manifest.unlink(missing_ok=True)
            return None
        if not partial.exists() or partial.stat().st_size < state["bytes"]:
            raise UserError(f"{partial}: missing or shorter than {manifest} says ({state['bytes']:,} bytes); "
                            f"delete {manifest} to start over")
        return state

    @classmethod
    def interrupted(cls, paths: str | Path | list[Path], resume: bool) -> dict | None:
        """The manifest of an interrupted run of `paths` (an output, or the shards of one: any of
        them with records), or None. Without `resume`, an interrupted run's records are an error,
        never overwritten; with it, no interrupted run is. Cheap: commands call it before any work."""
        paths = [Path(p) for p in paths] if isinstance(paths, list) else [Path(paths)]
        cls.refuse_if_written_now(paths)  # a live run's, with or without records yet: not "delete them"
        kept = [(path, state) for path in paths if (state := cls.state_of(path)) is not None]
        if resume and not kept:
            manifest = cls.files_of(paths[0])[1]
            raise UserError(f"{paths[0]}: --resume: no interrupted run of it to continue (no {manifest} with "
                            f"records); run without --resume")
        if not resume and kept:
            (path, state), = kept[:1]
            partial, manifest = cls.files_of(path)
            raise UserError(f"{path}: an interrupted run left {plural(state['records'], 'record')} in {partial}; add "
                            f"--resume to continue it, or delete {partial} and {manifest} to start over")
        return kept[0][1] if kept else None

    def _save_manifest(self) -> None:
        tmp = self.manifest.with_name(self.manifest.name + ".tmp")  # one name: a kill leaves no pile of them
        content = json.dumps({"fingerprint": self.fingerprint, "records": self.records, "bytes": self.bytes},
                             ensure_ascii=False)
        try:
            with open(tmp, "w", encoding="utf-8") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            tmp.replace(self.manifest)  # one rename: atomic, nothing for a stop to split
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write {self.manifest} ({exc.strerror}); what it counted before "
                            f"is kept: --resume continues it") from None

    def done(self) -> list[str]:
        """The lines written so far (by this run and the interrupted ones before it)."""
        with open(self.partial, "rb") as file:
            data = file.read(self.bytes).decode("utf-8")
        # split at newlines only: JSON leaves U+2028 and other line separators unescaped inside strings
        return [line + "\n" for line in data.split("\n")[:-1]]

    def append(self, lines: list[str]) -> None:
        data = "".join(lines).encode("utf-8")
        try:
            self.file.write(data)
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write {self.partial} ({exc.strerror}); what was written before "
                            f"is kept: --resume continues it") from None
        self.records, self.bytes = self.records + len(lines), self.bytes + len(data)
        if self.records == len(lines):  # the first chunk: the new files' names reach the disk too
            with contextlib.suppress(OSError):
                folder = os.open(self.partial.parent, os.O_RDONLY)
                os.fsync(folder)
                os.close(folder)
        self._save_manifest()

    def written(self) -> None:
        """Every chunk is in: where there is no lock to hold (no fcntl, as on Windows, where an open
        file cannot be renamed either) the file is closed now, ready for its name; elsewhere it stays
        open, and locked, until `close`."""
        if fcntl is None:
            self.file.close()

    def close(self) -> None:
        # After a failed append (a full disk), the unwritten chunk waits in the file's buffer: closing
        # tries it again and would raise over append's one-line error. The descriptor is closed all the
        # same, and resume cuts the file back to the manifest's bytes.
        with contextlib.suppress(OSError):
            self.file.close()
