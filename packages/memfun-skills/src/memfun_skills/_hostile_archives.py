"""Builders of hostile skill archives, for tests of the installer (re-exported by ``testing``).

Each builder writes the archive an attacker would serve: zip slip, absolute paths, links
out, decompression bombs built cheaply (a deflate segment of zeros repeated), huge file
counts. They are written byte by byte where the standard library would refuse to.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "deflated_zeros",
    "many_files_zip",
    "tar_gz_with",
    "zip_bomb",
    "zip_with",
]

_MIB = 1024 * 1024


def zip_with(
    path: Path, files: Mapping[str, bytes], *, links: Mapping[str, str] | None = None
) -> Path:
    """A zip of ``files`` (names written as given, ``../x`` and ``/x`` included) and links."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return path


def tar_gz_with(
    path: Path,
    files: Mapping[str, bytes],
    *,
    symlinks: Mapping[str, str] | None = None,
    hardlinks: Mapping[str, str] | None = None,
) -> Path:
    """A ``.tar.gz`` of ``files`` plus symbolic and hard links (names as given)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for kind, links in ((tarfile.SYMTYPE, symlinks), (tarfile.LNKTYPE, hardlinks)):
            for name, target in (links or {}).items():
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = target
                archive.addfile(info)
    return path


def deflated_zeros(mebibytes: int) -> bytes:
    """A raw deflate stream of ``mebibytes`` MiB of zeros, built in milliseconds.

    One full-flushed segment of a MiB of zeros (about 1 KiB) is repeated: after a full flush
    the compressor's state is reset, so every segment decodes to the same MiB.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(_MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * mebibytes + compressor.flush()


def zip_bomb(path: Path, *, name: str, mebibytes: int, declared: int | None = None) -> Path:
    """A zip whose one entry expands to ``mebibytes`` MiB of zeros.

    Args:
        path: Where to write it.
        name: The entry's name.
        mebibytes: What the entry really expands to.
        declared: The uncompressed size the headers claim (the real size by default; a
            smaller value makes the entry lie).
    """
    data = deflated_zeros(mebibytes)
    size = mebibytes * _MIB if declared is None else declared
    raw = name.encode()
    # The CRC is never reached: a reader must stop at its limit long before the end.
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(data), size, len(raw), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, len(data), size, len(raw), 0, 0, 0, 0,
        0o100644 << 16, 0,
    )  # fmt: skip
    offset = len(local) + len(raw) + len(data)
    directory = central + raw
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), offset, 0)
    path.write_bytes(local + raw + data + directory + end)
    return path


def many_files_zip(path: Path, count: int, *, skill_md: bytes) -> Path:
    """A valid skill zip holding ``count`` empty files besides ``SKILL.md``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("SKILL.md", skill_md)
        for index in range(count):
            archive.writestr(f"assets/f{index}", b"")
    return path
