"""A seccomp filter for the sandbox worker, as classic-BPF bytes (a `struct sock_filter[]`), x86_64 and aarch64.

Standard library only, and independent of the rest of the package: `install` shows in a few lines
of ctypes how the worker loads the program (it copies that logic, as it cannot import this package).
The filter is a deny list: every syscall not named below is allowed, so ordinary programs (threads,
subprocesses, numpy, multiprocessing) run unchanged, and what it refuses is what no test program
needs but an escape or an attack on the host or on the worker (pid 1 of its namespace) would.

In order, the filter:

1. Kills the process (SECCOMP_RET_KILL_PROCESS) if seccomp_data.arch is not the build's arch: on
   x86_64, i386 syscalls made through `int 0x80` have their own numbers, which the table does not
   cover. On x86_64, refuses with ENOSYS every syscall number with the x32 bit (>= 0x40000000):
   x32 calls share AUDIT_ARCH_X86_64 but not the numbers (the kernel answers ENOSYS to such numbers
   where it has no x32 support, so nothing depends on them).
2. Refuses with EPERM, whatever the arguments:
   - namespaces and mounts (a way out of the isolation, or a large attack surface of their own):
     unshare, setns, mount, umount2, pivot_root, chroot, open_tree, move_mount, fsopen, fsconfig,
     fsmount, fspick, mount_setattr;
   - keyrings (kernel state shared across the machine): keyctl, add_key, request_key;
   - tracing and other processes' memory (the worker is another process): ptrace,
     process_vm_readv, process_vm_writev, kcmp, pidfd_getfd, process_madvise;
   - kernel attack surface: bpf, perf_event_open, io_uring_setup, io_uring_enter,
     io_uring_register, userfaultfd;
   - modules and kexec: init_module, finit_module, delete_module, kexec_load, kexec_file_load;
   - machine administration: acct, swapon, swapoff, reboot, quotactl, lookup_dcookie,
     name_to_handle_at, open_by_handle_at (the "shocker" container escape), fanotify_init.
   Added beyond the requested list (each needs a capability the worker should not have, so this
   only matters if it runs with one; no test program calls them):
   - quotactl_fd: quotactl by file descriptor, the same interface as quotactl;
   - syslog: reading the kernel log shows host addresses and the host's activity;
   - sethostname, setdomainname, settimeofday, clock_settime: machine-wide settings (adjtimex
     and clock_adjtime stay allowed: with modes 0 they are the read-only ntp_gettime);
   - x86_64 only: iopl, ioperm (raw port I/O), uselib (the obsolete a.out library loader),
     modify_ldt (per-process segment descriptors; old attack surface, refused by Docker too).
3. Refuses with EPERM depending on the arguments (64-bit arguments are compared on both 32-bit
   halves, so a pid of 0x1_0000_0000 does not pass as 0):
   - clone whose flags (arg0, low 32 bits: the kernel ignores the rest) hold any CLONE_NEW*
     namespace flag (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; CLONE_NEWTIME is
     0x80, which clone reads as part of the exit signal, so only clone3 and unshare can ask for it);
   - personality with any persona other than 0 (PER_LINUX) and 0xffffffff (query), low 32 bits
     (the kernel's argument is an unsigned int): other personas turn off ASLR, map page 0, etc.;
   - calls that act on another process, so a test cannot change the worker's or another test's
     limits, priority or scheduling: prlimit64 unless arg0 (pid) == 0; setpriority unless arg0
     (which) == PRIO_PROCESS (0) and arg1 (who) == 0 (PRIO_USER with who 0 renices every process
     of the uid, PRIO_PGRP with 0 the whole process group); ioprio_set unless arg0 (which) ==
     IOPRIO_WHO_PROCESS (1) and arg1 (who) == 0 (stricter than who == 0 alone, for the same
     reason: IOPRIO_WHO_USER with who 0 means every process of the uid); sched_setaffinity,
     sched_setscheduler, sched_setparam, sched_setattr, migrate_pages and move_pages unless arg0
     (pid) == 0. Reading another process's values (getpriority, sched_getaffinity...) stays
     allowed, except through prlimit64, which reads and writes in one call.
4. Refuses clone3 with ENOSYS: its flags sit behind a pointer, which seccomp cannot read, so it
   must go; ENOSYS (not EPERM) makes glibc fall back to clone, whose flags the filter checks (as
   Docker's default profile does).
5. Answers sync and syncfs with 0 without running them (NO_OPS): a host-wide writeback is not a
   test's to ask for, and a program's own files live in memory anyway.
6. Allows everything else, setrlimit included (x86_64's old syscall only ever acts on the caller).

The program is one arch check, then a linear list of per-syscall blocks, each ending in a RET on
every path, then RET ALLOW: no jump spans more than one block, so none can overflow the 8-bit jump
offsets, however long the list (build_filter asserts it). Syscalls the filter decides on their
number alone can be cached by the kernel's seccomp action cache (Linux 5.11+): the list is not
walked at all for them.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import platform
import struct

# ----------------------------------------------------------------- constants (linux/seccomp.h, filter.h)

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}

X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]. Both arches
# are little-endian: an argument's low word is at 16 + 8 * i, its high word 4 bytes further.
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
SECCOMP_DATA_IP = 8
SECCOMP_DATA_ARGS = 16

# Classic BPF opcodes (linux/bpf_common.h), the only ones this generator emits.
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JMP_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
BPF_MAXINSNS = 4096
INSTRUCTION = struct.Struct("HBBI")  # struct sock_filter: code, jt, jf, k (native byte order)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEW_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1
PERSONA_QUERY = 0xFFFFFFFF

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# ----------------------------------------------------------------- syscall numbers the filter names

# From asm/unistd_64.h.
SYSCALLS_X86_64: dict[str, int] = {
    "clone": 56,
    "clone3": 435,
    "unshare": 272,
    "setns": 308,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "bpf": 321,
    "perf_event_open": 298,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "userfaultfd": 323,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "acct": 163,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "quotactl": 179,
    "quotactl_fd": 443,
    "lookup_dcookie": 212,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "fanotify_init": 300,
    "syslog": 103,
    "sethostname": 170,
    "setdomainname": 171,
    "settimeofday": 164,
    "clock_settime": 227,
    "iopl": 172,
    "ioperm": 173,
    "uselib": 134,
    "personality": 135,
    "prlimit64": 302,
    "setpriority": 141,
    "ioprio_set": 251,
    "sched_setaffinity": 203,
    "sched_setscheduler": 144,
    "sched_setparam": 142,
    "sched_setattr": 314,
    "migrate_pages": 256,
    "move_pages": 279,
    "modify_ldt": 154,
    "sync": 162,
    "syncfs": 306,
}

# aarch64 uses the generic table, asm-generic/unistd.h (no iopl, ioperm, uselib there).
SYSCALLS_AARCH64: dict[str, int] = {
    "clone": 220,
    "clone3": 435,
    "unshare": 97,
    "setns": 268,
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "chroot": 51,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "bpf": 280,
    "perf_event_open": 241,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "userfaultfd": 282,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "kexec_load": 104,
    "kexec_file_load": 294,
    "acct": 89,
    "swapon": 224,
    "swapoff": 225,
    "reboot": 142,
    "quotactl": 60,
    "quotactl_fd": 443,
    "lookup_dcookie": 18,
    "name_to_handle_at": 264,
    "open_by_handle_at": 265,
    "fanotify_init": 262,
    "syslog": 116,
    "sethostname": 161,
    "setdomainname": 162,
    "settimeofday": 170,
    "clock_settime": 112,
    "personality": 92,
    "prlimit64": 261,
    "setpriority": 140,
    "ioprio_set": 30,
    "sched_setaffinity": 122,
    "sched_setscheduler": 119,
    "sched_setparam": 118,
    "sched_setattr": 274,
    "migrate_pages": 238,
    "move_pages": 239,
    "sync": 81,
    "syncfs": 267,
}

SYSCALLS = {"x86_64": SYSCALLS_X86_64, "aarch64": SYSCALLS_AARCH64}

# ----------------------------------------------------------------- the rules

REFUSED: tuple[str, ...] = (
    # namespaces and mounts
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # keyrings
    "keyctl",
    "add_key",
    "request_key",
    # tracing, other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    # kernel attack surface
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    # modules, kexec
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    # machine administration
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "quotactl",
    "lookup_dcookie",
    "name_to_handle_at",
    "open_by_handle_at",
    "fanotify_init",
    # added beyond the requested list (see the module docstring)
    "quotactl_fd",
    "syslog",
    "sethostname",
    "setdomainname",
    "settimeofday",
    "clock_settime",
    "iopl",  # x86_64 only
    "ioperm",  # x86_64 only
    "uselib",  # x86_64 only
    "modify_ldt",  # x86_64 only: per-process descriptor tables, old attack surface (Docker refuses it)
)
"""Refused with EPERM whatever the arguments (those absent from an arch's table are skipped)."""

NO_OPS: tuple[str, ...] = ("sync", "syncfs")
"""Answered "done" (0) without running: writing back every dirty page of the host is not a test's to
ask, and blocks in the kernel for as long as the host's disks take; a program's own files are in
memory (tmpfs), so skipping it changes nothing for the program."""

ONLY_SELF: dict[str, tuple[tuple[int, int], ...]] = {
    "prlimit64": ((0, 0),),
    "setpriority": ((0, PRIO_PROCESS), (1, 0)),
    "ioprio_set": ((0, IOPRIO_WHO_PROCESS), (1, 0)),
    "sched_setaffinity": ((0, 0),),
    "sched_setscheduler": ((0, 0),),
    "sched_setparam": ((0, 0),),
    "sched_setattr": ((0, 0),),
    "migrate_pages": ((0, 0),),
    "move_pages": ((0, 0),),
}
"""Allowed only when each (argument index, value) pair matches, on all 64 bits; EPERM otherwise."""

# ----------------------------------------------------------------- the generator

Instruction = tuple[int, int, int, int]


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> Instruction:
    return (code, jt, jf, k)


def _ret(value: int) -> Instruction:
    return _insn(BPF_RET_K, value)


def _errno(number: int) -> int:
    return SECCOMP_RET_ERRNO | (number & SECCOMP_RET_DATA)


def _load_arg(index: int, high: bool) -> Instruction:
    return _insn(BPF_LD_W_ABS, SECCOMP_DATA_ARGS + 8 * index + (4 if high else 0))


def _block(nr: int, body: list[Instruction]) -> list[Instruction]:
    """`if (nr == NR) { body }`: the body must end in a RET on every path, so the next block is
    reached only through this JEQ's false branch, with the syscall number still in A."""
    assert body and body[-1][0] == BPF_RET_K
    assert len(body) <= 255, f"a block of {len(body)} instructions cannot be jumped over"
    return [_insn(BPF_JMP_JEQ_K, nr, 0, len(body)), *body]


def _refuse(nr: int, errno_value: int) -> list[Instruction]:
    return _block(nr, [_ret(_errno(errno_value))])


def _only_if_equal(nr: int, conditions: tuple[tuple[int, int], ...]) -> list[Instruction]:
    """ALLOW when every argument equals its value (high word, then low word), else EPERM."""
    checks = []
    for index, value in conditions:
        checks.append((_load_arg(index, high=True), (value >> 32) & 0xFFFFFFFF))
        checks.append((_load_arg(index, high=False), value & 0xFFFFFFFF))
    body: list[Instruction] = []
    deny_at = 2 * len(checks) + 1  # after every LD/JEQ pair and the RET ALLOW
    for load, k in checks:
        body.append(load)
        body.append(_insn(BPF_JMP_JEQ_K, k, 0, deny_at - len(body) - 1))
    body += [_ret(SECCOMP_RET_ALLOW), _ret(_errno(errno.EPERM))]
    return _block(nr, body)


def _clone(nr: int) -> list[Instruction]:
    """EPERM when the low word of the flags holds any CLONE_NEW* flag, else ALLOW."""
    return _block(
        nr,
        [
            _load_arg(0, high=False),
            _insn(BPF_JMP_JSET_K, CLONE_NEW_FLAGS, 0, 1),
            _ret(_errno(errno.EPERM)),
            _ret(SECCOMP_RET_ALLOW),
        ],
    )


def _personality(nr: int) -> list[Instruction]:
    """ALLOW persona 0 and the query 0xffffffff (low word: the kernel takes an unsigned int)."""
    return _block(
        nr,
        [
            _load_arg(0, high=False),
            _insn(BPF_JMP_JEQ_K, 0, 1, 0),
            _insn(BPF_JMP_JEQ_K, PERSONA_QUERY, 0, 1),
            _ret(SECCOMP_RET_ALLOW),
            _ret(_errno(errno.EPERM)),
        ],
    )


@functools.cache  # a pure function of the arch; every worker start asks for it
def build_filter(arch: str | None = None) -> bytes:
    """The filter for `arch` ('x86_64' or 'aarch64'; default: platform.machine()), as the bytes of
    a `struct sock_filter[]` in native byte order: pass them to `install`.

    Rule: kill a foreign arch; on x86_64, ENOSYS for x32 numbers; EPERM for REFUSED; EPERM for
    clone with a CLONE_NEW* flag, for personality other than 0 or 0xffffffff, and for the ONLY_SELF
    calls aimed at another process; ENOSYS for clone3; ALLOW for the rest (see the module docstring).
    Raises ValueError for any other arch.
    """
    arch = platform.machine() if arch is None else arch
    if arch not in AUDIT_ARCH:
        raise ValueError(f"no seccomp filter for arch {arch!r}: only x86_64 and aarch64")
    table = SYSCALLS[arch]
    assert len(set(table.values())) == len(table), "two syscalls with one number"

    program: list[Instruction] = [
        _insn(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
        _insn(BPF_JMP_JEQ_K, AUDIT_ARCH[arch], 1, 0),
        _ret(SECCOMP_RET_KILL_PROCESS),
        _insn(BPF_LD_W_ABS, SECCOMP_DATA_NR),
    ]
    if arch == "x86_64":
        program += [_insn(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1), _ret(_errno(errno.ENOSYS))]
    for name in REFUSED:
        if name in table:
            program += _refuse(table[name], errno.EPERM)
    for name in NO_OPS:
        program += _refuse(table[name], 0)  # SECCOMP_RET_ERRNO with 0: returns 0, runs nothing
    program += _clone(table["clone"])
    program += _refuse(table["clone3"], errno.ENOSYS)
    program += _personality(table["personality"])
    for name, conditions in ONLY_SELF.items():
        program += _only_if_equal(table[name], conditions)
    program.append(_ret(SECCOMP_RET_ALLOW))

    assert len(program) <= BPF_MAXINSNS, f"{len(program)} instructions, the kernel takes {BPF_MAXINSNS}"
    for pc, (code, jt, jf, _k) in enumerate(program):
        assert 0 <= jt <= 255 and 0 <= jf <= 255, f"jump offset out of range at {pc}"
        if code & 0x07 == 0x05:  # BPF_JMP: both targets inside the program
            assert pc + 1 + max(jt, jf) < len(program), f"jump past the end at {pc}"
    return b"".join(INSTRUCTION.pack(*insn) for insn in program)


def install(program: bytes) -> None:
    """Load `program` (from build_filter) into the calling thread, for good: set no_new_privs, then
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog). Raises OSError if the kernel refuses.

    Children forked or cloned afterwards inherit the filter; threads that already exist do not
    (install before starting any, or use seccomp(2) with SECCOMP_FILTER_FLAG_TSYNC instead).
    """
    if not program or len(program) % INSTRUCTION.size or len(program) // INSTRUCTION.size > BPF_MAXINSNS:
        raise ValueError(f"not a seccomp program: {len(program)} bytes")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // INSTRUCTION.size, ctypes.addressof(buffer))
    if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_NO_NEW_PRIVS): {errno.errorcode.get(code, code)}")
    if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_SECCOMP): {errno.errorcode.get(code, code)}")
