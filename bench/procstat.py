"""Processes and their CPU and memory from /proc, for the benchmarks that account per process
(bench/stream.py, bench/scale.py) and the multi-node test's node loss (bench/cluster.py).

Ray renames its workers' argv (`ray::_RaySessionHost`), so processes are found by parent pid
and classed by command line, never by executable name."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

CLK_TCK = os.sysconf("SC_CLK_TCK")
# (class, command-line marker): the first marker found in a command line names its class.
Classes = Sequence[tuple[str, str]]


def processes() -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        yield int(entry), int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in processes():
        children[ppid].append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str | None:
    """The process's command line, arguments joined by spaces; None when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def class_of(pid: int, classes: Classes) -> str:
    """The class of the first marker in the command line; `ray-other`, `other` or `gone`."""
    line = cmdline(pid)
    if line is None:
        return "gone"
    for name, marker in classes:
        if marker in line:
            return name
    return "ray-other" if "ray" in line else "other"


def cpu_s(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pss_kb(pid: int) -> int:
    """Proportional set size (KiB) from smaps_rollup; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def by_class(
    root: int, read: Callable[[int], float], classify: Callable[[int], str]
) -> dict[str, float]:
    """`read` summed over `root`'s processes, by `classify`'s class."""
    totals: dict[str, float] = defaultdict(float)
    for pid in descendants(root):
        totals[classify(pid)] += read(pid)
    return dict(totals)
