"""sandbox/seccomp.py: the filter's decisions, evaluated by a small classic-BPF interpreter on
hand-built seccomp_data for both arches, then the real kernel's answers with the filter installed.

Expectations use syscall numbers written out here (from asm/unistd_64.h and asm-generic/unistd.h),
not the module's tables, so a wrong number in a table fails a test; the tables are also compared
with the kernel headers when those are on disk.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import seccomp
from sandbox.seccomp import build_filter

REPO = Path(__file__).resolve().parents[1]

KILL = 0x80000000
ALLOW = 0x7FFF0000
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}

# ---------------------------------------------------------------- a classic-BPF interpreter

LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
SECCOMP_DATA_SIZE = 64


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    assert len(program) % 8 == 0
    return [struct.unpack_from("HBBI", program, offset) for offset in range(0, len(program), 8)]


def validate(program: bytes) -> None:
    """What the kernel's checks (bpf_check_classic, seccomp_check_filter) would refuse, for the
    opcodes the generator emits."""
    insns = instructions(program)
    assert 0 < len(insns) <= 4096
    assert insns[-1][0] == RET_K, "a program must end in RET"
    for pc, (code, jt, jf, k) in enumerate(insns):
        assert code in (LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K), f"unexpected opcode {code:#x} at {pc}"
        if code == LD_W_ABS:
            assert k % 4 == 0 and k < SECCOMP_DATA_SIZE, f"load of {k} at {pc}"
        if code in (JEQ_K, JGE_K, JSET_K):
            assert pc + 1 + max(jt, jf) < len(insns), f"jump past the end at {pc}"


def run_bpf(program: bytes, data: bytes) -> int:
    """The filter's return value for one seccomp_data."""
    insns = instructions(program)
    a = 0
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == LD_W_ABS:
            (a,) = struct.unpack_from("<I", data, k)
        elif code == JEQ_K:
            pc += jt if a == k else jf
        elif code == JGE_K:
            pc += jt if a >= k else jf
        elif code == JSET_K:
            pc += jt if a & k else jf
        elif code == RET_K:
            return k
        else:
            raise AssertionError(f"opcode {code:#x}")


def seccomp_data(nr: int, arch: int, *args: int, ip: int = 0x400000) -> bytes:
    """struct seccomp_data, little-endian (both arches): nr, arch, instruction_pointer, args[6]."""
    full = [*args, *[0] * (6 - len(args))]
    return struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch, ip, *(a & (2**64 - 1) for a in full))


def decide(arch: str, nr: int, *args: int, audit_arch: int | None = None) -> int:
    return run_bpf(
        build_filter(arch), seccomp_data(nr, ARCH[arch] if audit_arch is None else audit_arch, *args)
    )


# ---------------------------------------------------------------- hand-computed decisions

SIGCHLD = 17
CLONE_THREAD_FLAGS = 0x3D0F00  # VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x10000000, 0x20000, 0x40000000, 0x20000000
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
IOPRIO_WHO_PROCESS, IOPRIO_WHO_USER = 1, 3

NR = {
    "x86_64": {
        "read": 0,
        "write": 1,
        "getpid": 39,
        "clone": 56,
        "clone3": 435,
        "unshare": 272,
        "setns": 308,
        "mount": 165,
        "keyctl": 250,
        "add_key": 248,
        "ptrace": 101,
        "bpf": 321,
        "io_uring_setup": 425,
        "userfaultfd": 323,
        "open_by_handle_at": 304,
        "personality": 135,
        "prlimit64": 302,
        "setrlimit": 160,
        "setpriority": 141,
        "ioprio_set": 251,
        "sched_setaffinity": 203,
        "sched_setscheduler": 144,
        "sched_setattr": 314,
        "move_pages": 279,
        "iopl": 172,
    },
    "aarch64": {
        "read": 63,
        "write": 64,
        "getpid": 172,
        "clone": 220,
        "clone3": 435,
        "unshare": 97,
        "setns": 268,
        "mount": 40,
        "keyctl": 219,
        "add_key": 217,
        "ptrace": 117,
        "bpf": 280,
        "io_uring_setup": 425,
        "userfaultfd": 282,
        "open_by_handle_at": 265,
        "personality": 92,
        "prlimit64": 261,
        "setrlimit": 164,
        "setpriority": 140,
        "ioprio_set": 30,
        "sched_setaffinity": 122,
        "sched_setscheduler": 119,
        "sched_setattr": 274,
        "move_pages": 239,
    },
}

CASES = [
    # (syscall, args, expected)
    ("read", (0, 0x7FFF0000, 4096), ALLOW),
    ("write", (1, 0x7FFF0000, 12), ALLOW),
    ("getpid", (), ALLOW),
    ("clone", (SIGCHLD,), ALLOW),  # fork
    ("clone", (CLONE_THREAD_FLAGS,), ALLOW),  # pthread_create's fallback
    ("clone", (0x4111,), ALLOW),  # vfork: CLONE_VM | CLONE_VFORK | SIGCHLD
    ("clone", (0xFFFFFFFF_00000011,), ALLOW),  # the kernel ignores the flags' high word
    ("clone", (CLONE_NEWUSER | SIGCHLD,), EPERM),
    ("clone", (CLONE_NEWNS | SIGCHLD,), EPERM),
    ("clone", (CLONE_NEWNET | CLONE_NEWPID,), EPERM),
    ("clone", (0x02000000,), EPERM),  # CLONE_NEWCGROUP
    ("clone3", (0, 88), ENOSYS),
    ("unshare", (CLONE_NEWUSER,), EPERM),
    ("unshare", (0,), EPERM),
    ("setns", (3, 0), EPERM),
    ("mount", (0, 0, 0, 0, 0), EPERM),
    ("keyctl", (0, 0xFFFFFFFD), EPERM),
    ("add_key", (0, 0, 0, 0, 0xFFFFFFFE), EPERM),
    ("ptrace", (16, 1), EPERM),
    ("bpf", (5, 0, 0), EPERM),
    ("io_uring_setup", (1, 0), EPERM),
    ("userfaultfd", (0,), EPERM),
    ("open_by_handle_at", (3, 0, 0), EPERM),
    ("personality", (0xFFFFFFFF,), ALLOW),
    ("personality", (0,), ALLOW),
    ("personality", (0x0040000,), EPERM),  # ADDR_NO_RANDOMIZE
    ("personality", (8,), EPERM),  # PER_LINUX32
    ("prlimit64", (0, 7, 0x1000, 0), ALLOW),
    ("prlimit64", (0, 7, 0, 0x1000), ALLOW),
    ("prlimit64", (1, 7, 0x1000, 0), EPERM),
    ("prlimit64", (1, 7, 0, 0x1000), EPERM),  # reading another process's limits too
    ("prlimit64", (0x1_0000_0000, 7, 0x1000, 0), EPERM),
    ("prlimit64", (0xFFFFFFFF_FFFFFFFF, 7, 0x1000, 0), EPERM),
    ("setrlimit", (7, 0x1000), ALLOW),  # only ever acts on the caller
    ("setpriority", (PRIO_PROCESS, 0, 10), ALLOW),
    ("setpriority", (PRIO_PROCESS, 1, 10), EPERM),
    ("setpriority", (PRIO_PROCESS, 0x1_0000_0000, 10), EPERM),
    ("setpriority", (PRIO_USER, 0, 10), EPERM),
    ("setpriority", (PRIO_PGRP, 0, 10), EPERM),
    ("setpriority", (0x1_0000_0000, 0, 10), EPERM),
    ("ioprio_set", (IOPRIO_WHO_PROCESS, 0, 0x4004), ALLOW),
    ("ioprio_set", (IOPRIO_WHO_PROCESS, 1, 0x4004), EPERM),
    ("ioprio_set", (IOPRIO_WHO_USER, 0, 0x4004), EPERM),
    ("sched_setaffinity", (0, 8, 0x7FFF0000), ALLOW),
    ("sched_setaffinity", (1, 8, 0x7FFF0000), EPERM),
    ("sched_setaffinity", (0x1_0000_0000, 8, 0x7FFF0000), EPERM),
    ("sched_setscheduler", (0, 0, 0x7FFF0000), ALLOW),
    ("sched_setscheduler", (42, 0, 0x7FFF0000), EPERM),
    ("sched_setattr", (0, 0x7FFF0000, 0), ALLOW),
    ("sched_setattr", (42, 0x7FFF0000, 0), EPERM),
    ("move_pages", (0, 0, 0, 0, 0, 0), ALLOW),
    ("move_pages", (42, 0, 0, 0, 0, 0), EPERM),
]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize(("name", "args", "expected"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_decisions(arch: str, name: str, args: tuple[int, ...], expected: int) -> None:
    assert decide(arch, NR[arch][name], *args) == expected


def test_iopl_refused_on_x86_64_only() -> None:
    assert decide("x86_64", 172, 3) == EPERM
    assert decide("aarch64", 172, 3) == ALLOW  # 172 is getpid there


@pytest.mark.parametrize(
    ("arch", "foreign"),
    [
        ("x86_64", AUDIT_ARCH_I386),
        ("x86_64", AUDIT_ARCH_AARCH64),
        ("aarch64", AUDIT_ARCH_ARM),
        ("aarch64", 0),
    ],
)
def test_foreign_arch_is_killed(arch: str, foreign: int) -> None:
    for nr in (0, 1, 20, 63, 172):  # whatever the number, even one allowed natively
        assert decide(arch, nr, audit_arch=foreign) == KILL


def test_x32_numbers_refused() -> None:
    for nr in (0x40000000, 0x40000000 | 39, 0x40000000 | 272, 0x40000000 | 512, 0xFFFFFFFF):
        assert decide("x86_64", nr) == ENOSYS
    assert decide("x86_64", 0x3FFFFFFF) == ALLOW


def test_every_table_entry_decided() -> None:
    """Each named syscall, with benign arguments (zeros: self) and aimed at pid 1 or pid 2**32."""
    for arch, table in seccomp.SYSCALLS.items():
        program = build_filter(arch)

        def run(nr: int, *args: int, program: bytes = program, arch: str = arch) -> int:
            return run_bpf(program, seccomp_data(nr, ARCH[arch], *args))

        for name in seccomp.REFUSED:
            if name in table:
                assert run(table[name]) == EPERM, (arch, name)
                assert run(table[name], 0xFFFFFFFF, 1 << 32) == EPERM, (arch, name)
        for name, conditions in seccomp.ONLY_SELF.items():
            good = [0] * 6
            for index, value in conditions:
                good[index] = value
            assert run(table[name], *good) == ALLOW, (arch, name)
            for index, value in conditions:
                for bad in (value + 1, value | 1 << 32, 1 << 63):
                    args = list(good)
                    args[index] = bad
                    assert run(table[name], *args) == EPERM, (arch, name, index, hex(bad))
        named = set(table.values())
        for nr in range(1024):
            if nr not in named:
                assert run(nr) == ALLOW, (arch, nr)


def test_programs_are_valid() -> None:
    for arch in ("x86_64", "aarch64"):
        program = build_filter(arch)
        validate(program)
        for code, jt, jf, _k in instructions(program):  # short jumps, far from the 8-bit limit
            if code != RET_K:
                assert jt <= 16 and jf <= 16
        assert build_filter(arch) == program  # deterministic


def test_default_and_unknown_arch() -> None:
    machine = platform.machine()
    if machine in ("x86_64", "aarch64"):
        assert build_filter() == build_filter(machine)
    else:
        with pytest.raises(ValueError, match=re.escape(repr(machine))):
            build_filter()
    for arch in ("i386", "riscv64", "arm64", "amd64", ""):
        with pytest.raises(ValueError, match=re.escape(repr(arch))):
            build_filter(arch)


def test_install_refuses_non_programs() -> None:
    """Checked before any prctl, so this is safe in the test process itself."""
    for program in (b"", b"\x06\x00\x00\x00\x00\x00\xff\x7f"[:7], b"\0" * 8 * 4097):
        with pytest.raises(ValueError):
            seccomp.install(program)


def test_docstring_names_everything_decided() -> None:
    doc = seccomp.__doc__ or ""
    for name in [*seccomp.REFUSED, *seccomp.ONLY_SELF, "clone", "clone3", "personality", "setrlimit"]:
        assert re.search(rf"\b{name}\b", doc), name


# ---------------------------------------------------------------- the tables against the kernel headers

HEADERS = {
    "x86_64": [Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), Path("/usr/include/asm/unistd_64.h")],
    "aarch64": [Path("/usr/include/asm-generic/unistd.h")],
}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_tables_match_kernel_headers(arch: str) -> None:
    header = next((path for path in HEADERS[arch] if path.exists()), None)
    if header is None:
        pytest.skip(f"no {arch} syscall header on this machine ({', '.join(map(str, HEADERS[arch]))})")
    numbers = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", header.read_text(), re.MULTILINE)
    }
    table = seccomp.SYSCALLS[arch]
    for name in {*seccomp.REFUSED, *seccomp.ONLY_SELF, "clone", "clone3", "personality"}:
        if name in numbers:
            assert table.get(name) == numbers[name], (arch, name)
        else:
            assert name not in table, (arch, name)
    for name, nr in NR[arch].items():  # this file's own numbers too
        assert numbers[name] == nr, (arch, name)


# ---------------------------------------------------------------- the real kernel

PROBE = r"""
import ctypes, json, os, resource, subprocess, sys, threading, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NULL = ctypes.c_void_p(0)


def raw(nr, *args):
    return libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


def call(nr, *args):
    # The syscall's errno, or 0 on success.
    return ctypes.get_errno() if raw(nr, *args) == -1 else 0


def call_fd(nr, *args):
    # Likewise for a syscall that returns a file descriptor, which is closed.
    fd = raw(nr, *args)
    if fd == -1:
        return ctypes.get_errno()
    os.close(fd)
    return 0


def oserror(fn, *args):
    try:
        fn(*args)
    except OSError as exc:
        return exc.errno
    return 0


def in_child(fn, *args):
    # fn's result from a forked child, so that what it changes (a new user namespace) stays there.
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn(*args))
        finally:
            os._exit(255)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def unshare(flags):
    return 0 if libc.unshare(flags) == 0 else ctypes.get_errno()


def raw_clone(flags):
    # clone(flags, newsp=0, ...) forks; the child leaves at once.
    pid = raw(56, flags, NULL, NULL, NULL, NULL)
    if pid == 0:
        os._exit(0)
    if pid == -1:
        return ctypes.get_errno()
    os.waitpid(pid, 0)
    return 0


def seccomp_mode():
    return open("/proc/self/status").read().split("Seccomp:")[1].split()[0]


parent = os.getppid()  # the test process: calls aimed at it write back its own values, no-ops
out = {"seccomp_before": seccomp_mode()}
nofile_parent = resource.prlimit(parent, resource.RLIMIT_NOFILE)
nice_parent = os.getpriority(os.PRIO_PROCESS, parent)
affinity_parent = os.sched_getaffinity(parent)
policy_parent, param_parent = os.sched_getscheduler(parent), os.sched_getparam(parent)
ioprio_parent = raw(252, 1, parent)  # ioprio_get(IOPRIO_WHO_PROCESS, parent)
own_nice = out["own_nice"] = os.getpriority(os.PRIO_PROCESS, 0)
own_ioprio = raw(252, 1, 0)
victim = os.fork()  # another process of ours, for ptrace and its kin
if victim == 0:
    time.sleep(60)
    os._exit(0)

if sys.argv[1] == "filter":
    from sandbox.seccomp import build_filter, install

    install(build_filter())
out["seccomp_after"] = seccomp_mode()

CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x20000, 17
out["unshare_user"] = in_child(unshare, CLONE_NEWUSER)
out["unshare_0"] = in_child(unshare, 0)
if hasattr(os, "unshare"):  # Python 3.12+
    out["os_unshare"] = in_child(lambda: oserror(os.unshare, CLONE_NEWUSER))
out["clone_newuser"] = raw_clone(CLONE_NEWUSER | SIGCHLD)
out["clone_newns"] = raw_clone(CLONE_NEWNS | SIGCHLD)
out["clone3"] = call(435, NULL, 0)
out["keyctl"] = call(250, 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING
out["add_key"] = call(248, b"user", b"probe", b"x", 1, -2)  # into KEY_SPEC_PROCESS_KEYRING
out["request_key"] = call(249, b"user", b"no-such-key", NULL, 0)
out["ptrace_attach"] = call(101, 16, victim, 0, 0)
out["process_vm_readv"] = call(310, victim, NULL, 0, NULL, 0, 0)
out["kcmp"] = call(312, os.getpid(), victim, 1, 0, 0)
pidfd = os.pidfd_open(victim)
out["pidfd_getfd"] = call_fd(438, pidfd, 0, 0)
os.close(pidfd)
out["io_uring_setup"] = call_fd(425, 1, ctypes.create_string_buffer(120))
out["bpf"] = call(321, 0, NULL, 0)
out["perf_event_open"] = call(298, NULL, 0, -1, -1, 0)
out["userfaultfd"] = call_fd(323, 0)
out["mount"] = call(165, NULL, NULL, NULL, 0, NULL)
out["setns"] = call(308, -1, 0)
out["chroot"] = call(161, NULL)
out["init_module"] = call(175, NULL, 0, b"")
out["personality_linux32"] = call(135, 8)
call(135, 0)
out["prlimit_parent_write"] = oserror(resource.prlimit, parent, resource.RLIMIT_NOFILE, nofile_parent)
out["prlimit_parent_read"] = oserror(resource.prlimit, parent, resource.RLIMIT_NOFILE)
out["prlimit_init_read"] = oserror(resource.prlimit, 1, resource.RLIMIT_NOFILE)
out["prlimit_own_pid"] = oserror(resource.prlimit, os.getpid(), resource.RLIMIT_NOFILE)
out["setpriority_parent"] = oserror(os.setpriority, os.PRIO_PROCESS, parent, nice_parent)
out["setpriority_pgrp"] = oserror(os.setpriority, os.PRIO_PGRP, 0, own_nice)  # our own session
out["sched_setaffinity_parent"] = oserror(os.sched_setaffinity, parent, affinity_parent)
out["sched_setscheduler_parent"] = oserror(os.sched_setscheduler, parent, policy_parent, param_parent)
out["sched_setparam_parent"] = oserror(os.sched_setparam, parent, param_parent)
out["ioprio_set_parent"] = call(251, 1, parent, ioprio_parent)
out["move_pages_parent"] = call(279, parent, 0, NULL, NULL, NULL, 0)
out["x32_getpid"] = call(0x40000000 | 39)

pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
out["clone_sigchld"] = raw_clone(SIGCHLD)
ran = []
thread = threading.Thread(target=ran.append, args=(1,))
thread.start()
thread.join()
out["thread"] = ran
out["subprocess_true"] = subprocess.run(["true"]).returncode
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
out["setrlimit_self"] = resource.getrlimit(resource.RLIMIT_NOFILE) == (soft - 1, hard)
out["setrlimit_raw"] = call(160, 7, (ctypes.c_ulong * 2)(soft - 2, hard))  # the old syscall
out["prlimit_self"] = oserror(resource.prlimit, 0, resource.RLIMIT_NOFILE, (soft - 3, hard))
out["nice"] = os.nice(1)
out["setpriority_self"] = oserror(os.setpriority, os.PRIO_PROCESS, 0, min(own_nice + 2, 19))
out["sched_setaffinity_self"] = oserror(os.sched_setaffinity, 0, {min(os.sched_getaffinity(0))})
out["sched_setscheduler_self"] = oserror(os.sched_setscheduler, 0, os.SCHED_OTHER, os.sched_param(0))
out["ioprio_set_self"] = call(251, 1, 0, own_ioprio)
out["move_pages_self"] = call(279, 0, 0, NULL, NULL, NULL, 0)
out["personality_query"] = call(135, 0xFFFFFFFF)
os.kill(victim, 9)
os.waitpid(victim, 0)
print(json.dumps(out))
"""

I386_PROBE = r"""
import ctypes, mmap, os, resource, sys

resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if sys.argv[1] == "filter":
    from sandbox.seccomp import build_filter, install

    install(build_filter())
code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20 (i386 getpid); int 0x80; ret
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
function = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
print("i386 getpid:", function() == os.getpid(), flush=True)
"""

REFUSED_PROBES = [
    "unshare_user",
    "unshare_0",
    "os_unshare",
    "clone_newuser",
    "clone_newns",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace_attach",
    "process_vm_readv",
    "kcmp",
    "pidfd_getfd",
    "io_uring_setup",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "mount",
    "setns",
    "chroot",
    "init_module",
    "personality_linux32",
    "prlimit_parent_write",
    "prlimit_parent_read",
    "prlimit_init_read",
    "prlimit_own_pid",  # only pid 0 means "self" to the filter
    "setpriority_parent",
    "setpriority_pgrp",
    "sched_setaffinity_parent",
    "sched_setscheduler_parent",
    "sched_setparam_parent",
    "ioprio_set_parent",
    "move_pages_parent",
]
ALLOWED_PROBES = [
    "clone_sigchld",
    "setrlimit_raw",
    "prlimit_self",
    "setpriority_self",
    "sched_setaffinity_self",
    "sched_setscheduler_self",
    "ioprio_set_self",
    "personality_query",
]

needs_x86_64 = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the kernel probes use x86_64 syscall numbers and machine code"
)


def run_probe(source: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", source, mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # PRIO_PGRP 0 is then the probe's own group
    )


def probe_results(mode: str) -> dict:
    done = run_probe(PROBE, mode)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def filtered() -> dict:
    return probe_results("filter")


@needs_x86_64
def test_kernel_installs_filter(filtered: dict) -> None:
    assert filtered["seccomp_after"] == "2"  # SECCOMP_MODE_FILTER


@needs_x86_64
@pytest.mark.parametrize("probe", REFUSED_PROBES)
def test_kernel_refuses(filtered: dict, probe: str) -> None:
    if probe == "os_unshare" and probe not in filtered:
        pytest.skip("os.unshare needs Python 3.12 (the ctypes unshare probes cover it)")
    assert filtered[probe] == errno.EPERM, errno.errorcode.get(filtered[probe], filtered[probe])


@needs_x86_64
def test_kernel_enosys(filtered: dict) -> None:
    assert filtered["clone3"] == errno.ENOSYS
    assert filtered["x32_getpid"] == errno.ENOSYS


@needs_x86_64
@pytest.mark.parametrize("probe", ALLOWED_PROBES)
def test_kernel_allows(filtered: dict, probe: str) -> None:
    assert filtered[probe] == 0, errno.errorcode.get(filtered[probe], filtered[probe])


@needs_x86_64
def test_kernel_allows_processes_threads_and_own_limits(filtered: dict) -> None:
    assert filtered["fork"] == 7
    assert filtered["thread"] == [1]  # pthread_create: clone3 gets ENOSYS, glibc falls back to clone
    assert filtered["subprocess_true"] == 0
    assert filtered["setrlimit_self"] is True
    assert filtered["nice"] == min(filtered["own_nice"] + 1, 19)


@needs_x86_64
def test_kernel_control_without_filter() -> None:
    """The same probes without the filter get anything but EPERM: the EPERMs above are the filter's."""
    if os.geteuid() != 0:
        pytest.skip("without root the kernel itself refuses most probes with EPERM")
    control = probe_results("none")
    if control["seccomp_before"] != "0":
        pytest.skip("this process already runs under a seccomp filter (a container's?)")
    assert control["seccomp_after"] == "0"
    same = [p for p in REFUSED_PROBES if p in control and control[p] == errno.EPERM]
    assert not same, f"EPERM even without the filter: {same}"
    assert control["clone3"] != errno.ENOSYS
    assert all(control[p] == 0 for p in ALLOWED_PROBES), control


@needs_x86_64
def test_kernel_kills_i386_syscalls() -> None:
    control = run_probe(I386_PROBE, "none")
    if control.returncode != 0:
        pytest.skip(f"no i386 emulation in this kernel (int 0x80 without a filter: {control.returncode})")
    assert "i386 getpid: True" in control.stdout
    done = run_probe(I386_PROBE, "filter")
    assert done.returncode == -signal.SIGSYS, (done.returncode, done.stdout, done.stderr)
    assert "i386 getpid" not in done.stdout
