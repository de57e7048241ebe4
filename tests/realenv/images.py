"""Images built locally (no registry is reachable) with ``docker import``, cached by recipe.

- :func:`busybox_image`: Debian's static busybox and its applets, for throwaway containers.
- :func:`systemd_image`: Debian bookworm from ``debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus``
  plus logrotate and xfsprogs (systemd 252, the major version of Amazon Linux 2023, which ships logrotate and
  xfsprogs too: its root filesystem is XFS), to boot as PID 1 (see :mod:`tests.realenv.systemd`).

Each image is tagged ``constructs-obs/NAME:KEY`` where KEY hashes its recipe (and, for busybox, the binary), so
an image is rebuilt only when its recipe changes. Root filesystem tarballs are kept in ``<cache>/images``;
the harness daemon keeps imported images in its data root in the cache as well.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

from tests.realenv.docker import DockerDaemon, ensure_dockerd, image_exists
from tests.realenv.env import cache_dir, file_lock, unavailable

BUSYBOX = "/bin/busybox"
BUSYBOX_RECIPE = "busybox-static rootfs v1: /bin/busybox, applet symlinks, /etc/passwd+group, CMD sh"

SYSTEMD_SUITE = "bookworm"
SYSTEMD_PACKAGES = ("systemd", "systemd-sysv", "dbus", "logrotate", "xfsprogs")
SYSTEMD_RECIPE = (
    f"debootstrap --variant=minbase --include={','.join(SYSTEMD_PACKAGES)} {SYSTEMD_SUITE} v1; "
    "empty /etc/machine-id; apt caches removed"
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT = 900


def _key(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _images_dir() -> Path:
    path = cache_dir() / "images"
    path.mkdir(exist_ok=True)
    return path


def _is_static_elf(path: str) -> bool:
    """Whether ``path`` is an ELF executable without a program interpreter (statically linked)."""
    with open(path, "rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
            return False
        endian = "<" if header[5] == 1 else ">"
        phoff, phentsize, phnum = (
            struct.unpack_from(endian + "Q", header, 32)[0],
            *struct.unpack_from(endian + "HH", header, 54),
        )
        file.seek(phoff)
        table = file.read(phentsize * phnum)
    return all(
        struct.unpack_from(endian + "I", table, i * phentsize)[0] != 3 for i in range(phnum)
    )  # PT_INTERP


def _busybox_tar(binary: bytes, applets: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(
            name: str, *, kind: bytes = tarfile.DIRTYPE, mode: int = 0o755, data: bytes = b"", link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for directory in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "proc",
            "sys",
            "dev",
            "root",
            "var",
        ):
            add(directory)
        add("tmp", mode=0o1777)
        add("bin/busybox", kind=tarfile.REGTYPE, data=binary)
        add("etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", kind=tarfile.REGTYPE, mode=0o644, data=b"root:x:0:\n")
        for applet in applets:
            if applet != "bin/busybox":
                add(applet, kind=tarfile.SYMTYPE, mode=0o777, link="/bin/busybox")
    return buffer.getvalue()


def busybox_image() -> str:
    """A busybox image (``sh``, ``sleep``, ``cat``, ...), imported once per recipe; returns its tag."""
    daemon = ensure_dockerd()
    if not os.path.exists(BUSYBOX) or not _is_static_elf(BUSYBOX):
        unavailable(f"{BUSYBOX} is missing or not statically linked: apt-get install busybox-static")
    binary = Path(BUSYBOX).read_bytes()
    tag = f"constructs-obs/busybox:{_key(BUSYBOX_RECIPE.encode(), binary)}"
    with file_lock("image-busybox"):
        if image_exists(daemon, tag):
            return tag
        listing = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout
        applets = sorted({line.strip() for line in listing.splitlines() if line.strip()})
        tarball = _images_dir() / f"busybox-{tag.rsplit(':', 1)[1]}.tar"
        tarball.write_bytes(_busybox_tar(binary, applets))
        _import(daemon, tarball, tag, 'CMD ["sh"]')
    return tag


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for ``bookworm`` (``$CONSTRUCTS_OBS_DEBIAN_MIRROR`` first)."""
    override = os.environ.get("CONSTRUCTS_OBS_DEBIAN_MIRROR")
    if override:
        return override
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        try:
            text = source.read_text()
        except OSError:
            continue
        if source.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):[ \t]*(.*)$", stanza, flags=re.MULTILINE))
                if (
                    "deb" in fields.get("Types", "").split()
                    and SYSTEMD_SUITE in fields.get("Suites", "").split()
                ):
                    return fields.get("URIs", "").split()[0]
        else:  # one-line format: deb [options] URI suite components...
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == SYSTEMD_SUITE:
                    return words[1]
    return DEFAULT_MIRROR


def systemd_image() -> str:
    """A Debian bookworm image that boots systemd as ``/sbin/init``; built once per recipe; returns its tag.

    The first build runs debootstrap against :func:`debian_mirror` (about 40 s to 3 minutes, 240 MB).
    """
    daemon = ensure_dockerd()
    key = _key(SYSTEMD_RECIPE.encode())
    tag = f"constructs-obs/bookworm-systemd:{key}"
    with file_lock("image-bookworm-systemd"):
        if image_exists(daemon, tag):
            return tag
        tarball = _images_dir() / f"bookworm-systemd-{key}.tar"
        if not tarball.exists():
            _debootstrap(tarball)
        _import(daemon, tarball, tag, 'CMD ["/sbin/init"]')
    return tag


def _unmount_under(directory: Path) -> None:
    """Unmount what a killed debootstrap left mounted (``proc``, ``sys``) under ``directory``."""
    prefix = str(directory.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _debootstrap(tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        unavailable("debootstrap is not installed: apt-get install debootstrap")
    build = cache_dir() / "build"
    build.mkdir(exist_ok=True)
    root = build / "bookworm-systemd"
    if root.exists():  # a build that was interrupted
        _unmount_under(root)
        shutil.rmtree(root)
    log = build / "debootstrap.log"
    mirror = debian_mirror()
    command = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(SYSTEMD_PACKAGES)}",
        SYSTEMD_SUITE,
        str(root),
        mirror,
    ]
    with open(log, "wb") as out:
        result = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT, check=False
        )
    if result.returncode != 0:
        _unmount_under(root)
        tail = log.read_text(errors="replace")[-3000:]
        unavailable(f"{' '.join(command)} exited {result.returncode}; end of {log}:\n{tail}")
    # Each boot generates its own machine id (as on a fresh EC2 instance); no package caches in the image.
    (root / "etc" / "machine-id").write_text("")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    partial = tarball.with_suffix(".tar.partial")
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(root)


def _import(daemon: DockerDaemon, tarball: Path, tag: str, change: str) -> None:
    daemon.run("import", "--change", change, "--message", tag, str(tarball), tag, timeout=600)
