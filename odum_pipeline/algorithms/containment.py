"""What the validator's child process does to itself before it imports algorithm code (Linux).

- ``die_with_parent``: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so a parent that dies (even by
  ``kill -9``) takes the child with it;
- ``apply_limits``: ``setrlimit`` on address space, CPU time, open files and file size;
- ``restrict_writes``: a Landlock ruleset (Linux >= 5.13) under which the only writable place is
  the validation's temporary directory (plus ``/dev/null``), and TCP connect/bind are refused where
  the kernel supports it (Landlock ABI >= 4). Without Landlock it does nothing and says so.

None of this is a sandbox against a determined attacker (the code still runs as the worker's user
and can read what the worker can read); production isolates runs per container (see README).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from pathlib import Path

PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
ADDRESS_SPACE_BYTES = 6 * 2**30
OPEN_FILES = 512
FILE_SIZE_BYTES = 2 * 2**30

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on x86_64 and arm64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_FS_WRITE_FILE, _FS_READ_FILE, _FS_TRUNCATE = 1 << 1, 1 << 2, 1 << 14
_FS_WRITE_ANY = (1 << 1) | (1 << 4) | (1 << 5) | sum(1 << bit for bit in range(6, 13))  # write, remove, make_*
_FS_REFER = 1 << 13  # ABI 2
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if the parent already did."""
    if not sys.platform.startswith("linux"):
        return
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != expected_parent:
        os._exit(1)


def apply_limits(cpu_secs: float) -> None:
    """Cap address space, CPU seconds, open files and written file size (soft = hard)."""
    for limit, value in (
        (resource.RLIMIT_AS, ADDRESS_SPACE_BYTES),
        (resource.RLIMIT_CPU, max(1, int(cpu_secs))),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
        (resource.RLIMIT_FSIZE, FILE_SIZE_BYTES),
    ):
        _, hard = resource.getrlimit(limit)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (capped, capped))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(0, int(version))


def restrict_writes(writable: Path) -> bool:
    """Only ``writable`` (and /dev/null) can be written from now on; False when Landlock is absent."""
    abi = landlock_abi()
    if abi < 1:
        return False
    libc = _libc()
    fs_access = _FS_WRITE_ANY | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    net_access = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    attr = _RulesetAttr(fs_access, net_access)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        file_access = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)
        for path, access in ((writable, fs_access), (Path(os.devnull), file_access)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(access, fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return True


def contain(workdir: Path, cpu_secs: float, expected_parent: int) -> bool:
    """All of the above, in the child, before any algorithm code runs; True when writes are confined."""
    die_with_parent(expected_parent)
    apply_limits(cpu_secs)
    try:
        return restrict_writes(workdir)
    except OSError:  # e.g. a container's seccomp profile refusing the Landlock calls: limits still apply
        return False
