# sandboxd: finding processes in /proc and killing them, for the code that runs inside a
# sandbox (the resident agent, src/agent/sandboxd_agent.py, and the session runners,
# src/interactive/runner/). One source for all of them: the daemon sends it along with each
# (src/runtime/python-modules.ts), as a module named sandboxd_procfs. Stdlib only.
import os
import signal
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def boot_ticks():
    """Now, in the unit of a process's start time in /proc/<pid>/stat (ticks since boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK)


def proc_stat(pid):
    """(state, ppid, pgrp, sid, starttime) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    except (IndexError, ValueError):
        return None


def process_table():
    """{pid: proc_stat(pid)} of every visible process."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                table[int(name)] = st
    return table


def kill_all(pids, sig=signal.SIGKILL):
    """Sends `sig` to each of `pids`; one that is gone already is passed over."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
