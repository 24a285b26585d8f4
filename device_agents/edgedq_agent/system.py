"""Facts about the board from the kernel's own accounting: memory, CPU, thermal and throttle state."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from typing import Any, Dict, Optional

_THROTTLE_NOW = {0: "under_voltage", 1: "frequency_capped", 2: "throttled", 3: "soft_temperature_limit"}


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def proc_status_kb(*fields: str) -> Dict[str, Optional[int]]:
    """VmRSS, VmHWM ... of this process in kB, from /proc/self/status."""
    values: Dict[str, Optional[int]] = {field: None for field in fields}
    for line in (_read("/proc/self/status") or "").splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0])
    return values


def reset_peak_rss() -> bool:
    """Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so a peak covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def smaps_rollup_kb() -> Dict[str, Optional[int]]:
    """PSS and USS (private clean + dirty) of this process, where the kernel offers smaps_rollup."""
    fields: Dict[str, int] = {}
    for line in (_read("/proc/self/smaps_rollup") or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            fields[key] = int(parts[0])
    if "Pss" not in fields:
        return {"pss": None, "uss": None}
    return {"pss": fields["Pss"], "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# What decides XNNPACK's kernels: SIMD (asimd/neon), int8 dot product (asimddp, VNNI), int8 matrix multiply (i8mm),
# fp16 arithmetic (asimdhp); sve/sve2/sme only on CPUs past any Raspberry Pi (qemu's default "max" has them).
_ARM_FEATURES = {"asimd", "neon", "asimddp", "i8mm", "asimdhp", "sve", "sve2", "sme"}
_X86_FEATURES = {"avx2", "avx512_vnni", "avx_vnni", "avx512f", "fma"}


def cpu_features() -> list:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return sorted((_ARM_FEATURES | _X86_FEATURES).intersection(line.split(":", 1)[1].split()))
    return []


def emulation() -> Optional[str]:
    """How the board is emulated (qemu user mode), or None on real hardware.

    qemu-user fakes uname, /proc/self/exe and /proc/self/maps, but not the
    kernel's own /proc/sys/kernel/arch (Linux >= 6.1): an aarch64 process on
    an x86_64 kernel is emulated.
    """
    if os.environ.get("QEMU_EMULATED") or "qemu" in (_read("/proc/cpuinfo") or "").lower():
        return "qemu"
    kernel_arch = _read("/proc/sys/kernel/arch")
    if kernel_arch and kernel_arch != platform.machine():
        return "qemu-user (an %s process on an %s kernel)" % (platform.machine(), kernel_arch)
    try:
        interpreter = os.readlink("/proc/self/exe")
    except OSError:
        interpreter = ""
    maps = _read("/proc/self/maps") or ""
    if "qemu-" in interpreter or "qemu-" in maps:
        return "qemu-user"
    return None


def thermal_state() -> Dict[str, Any]:
    """SoC temperature, CPU frequency/governor and Raspberry Pi throttle bits, where present."""
    temps = []
    for zone in sorted(os.listdir("/sys/class/thermal")) if os.path.isdir("/sys/class/thermal") else []:
        value = _read("/sys/class/thermal/%s/temp" % zone)
        if zone.startswith("thermal_zone") and value and value.lstrip("-").isdigit():
            temps.append(int(value) / 1000.0)
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    state: Dict[str, Any] = {
        "temperature_c": max(temps) if temps else None,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "cpu_mhz": int(freq) / 1000.0 if freq and freq.isdigit() else None,
    }
    state.update(_throttle())
    return state


def _throttle() -> Dict[str, Any]:
    raw = None
    if shutil.which("vcgencmd"):
        try:
            out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2).stdout
            raw = int(out.strip().split("=")[1], 16)
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            raw = None
    if raw is None:
        sysfs = _read("/sys/devices/platform/soc/soc:firmware/get_throttled")
        raw = int(sysfs, 16) if sysfs else None
    if raw is None:
        return {"throttled_raw": None, "throttled_now": [], "throttled_since_boot": []}
    return {
        "throttled_raw": hex(raw),
        "throttled_now": [name for bit, name in _THROTTLE_NOW.items() if raw & (1 << bit)],
        "throttled_since_boot": [name for bit, name in _THROTTLE_NOW.items() if raw & (1 << (bit + 16))],
    }


def memory_total_mb() -> Optional[float]:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024.0
    return None


def os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def facts(runtime: Optional[Dict[str, str]]) -> Dict[str, Any]:
    """The hello: what the host needs to know to trust and label the numbers."""
    return {
        "arch": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_features": cpu_features(),
        "cores": os.cpu_count(),
        "memory_mb": memory_total_mb(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libc": " ".join(platform.libc_ver()).strip() or None,
        "python_executable": sys.executable,
        "numpy": _numpy_version(),
        "runtime": runtime,
        "emulated": emulation(),
        "hostname": platform.node(),
        "pid": os.getpid(),
        "thermal": thermal_state(),
    }


def _numpy_version() -> Optional[str]:
    try:
        import numpy

        return numpy.__version__
    except ImportError:
        return None
