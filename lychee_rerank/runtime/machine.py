"""What the process uses and where it runs: memory counters and a machine description for reports."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
import transformers

MIB = 1024**2


def rss_bytes() -> int:
    """This process's resident set size now (VmRSS), in bytes."""
    return _proc_status_kib("VmRSS") * 1024 or _maxrss_bytes()


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM), in bytes."""
    return _proc_status_kib("VmHWM") * 1024 or _maxrss_bytes()


def _proc_status_kib(key: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cuda_memory() -> dict[str, int] | None:
    """GPU memory counters of this process (bytes), or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return {
        "allocated": torch.cuda.memory_allocated(),
        "reserved": torch.cuda.memory_reserved(),
        "max_allocated": torch.cuda.max_memory_allocated(),
        "max_reserved": torch.cuda.max_memory_reserved(),
    }


def mib(value: float | None) -> float | None:
    """Bytes to MiB (None stays None)."""
    return None if value is None else value / MIB


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """Where figures were taken: CPU, cores, load, GPU, library versions, date, command."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command_line(),
        "cpu": cpu_model_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": load_average(),
        "memory_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        memory_gib = round(props.total_memory / 1024**3, 1)
        info["gpu"] = {"name": props.name, "memory_gib": memory_gib, "cuda": torch.version.cuda}
    return info


def _command_line() -> str:
    if not sys.argv:
        return ""
    program = sys.argv[0]
    head = ["python", program] if program.endswith(".py") else [Path(program).name]
    return " ".join(shlex.quote(part) for part in [*head, *sys.argv[1:]])


def describe_machine(info: dict[str, Any]) -> str:
    """One line: the device, torch threads, load at start (and end) and the date."""
    load = info.get("load_average_1_5_15")
    load_text = "load avg (1/5/15 min) " + "/".join(f"{x:.2f}" for x in load) if load else "load n/a"
    end = info.get("load_average_end")
    if end:
        load_text += " at start, " + "/".join(f"{x:.2f}" for x in end) + " at end"
    where = f"GPU {info['gpu']['name']}" if info.get("gpu") else f"CPU {info['cpu']} x{info['cpu_cores']} cores"
    return f"{where}, torch threads {info['torch_threads']}, {load_text}, {info['date']}"
