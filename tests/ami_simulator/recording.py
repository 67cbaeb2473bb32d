"""MixMonitor: what app_mixmonitor tells the AMI, and the file it writes.

Asterisk names a recording by its full path (``MIXMONITOR_FILENAME``): a
relative file name is put in its monitor folder, ``/var/spool/asterisk/monitor``
on a packaged Asterisk (captures ``recorded_inbound`` and ``mixmonitor_action``).
The file is Asterisk's format for the extension: ``.wav`` is 16-bit signed
linear, mono, 8 kHz.

The simulator writes that file only when it is given a folder standing for
the PBX's monitor folder (``AmiSimulator(monitor_folder=...)``, ``--monitor-dir``):
what a PBX host shares with Odoo (NFS, SMB), for the demo and its tests. The
audio is a soft beep a second, as long as the recording ran (at most a minute).
"""

from __future__ import annotations

import logging
import math
import os
import posixpath
import struct
import tempfile
import wave
from dataclasses import dataclass

_logger = logging.getLogger(__name__)

MONITOR_DIR = "/var/spool/asterisk/monitor"  # ast_config_AST_MONITOR_DIR (Debian's)
RATE = 8000
MAX_SECONDS = 60.0


@dataclass
class MixMonitor:
    path: str  # as MIXMONITOR_FILENAME shows it
    started: float  # virtual time
    options: str = ""


def full_path(filename: str) -> str:
    """app_mixmonitor's ``filename_parse``: a relative name goes to the monitor folder."""
    return filename if filename.startswith("/") else f"{MONITOR_DIR}/{filename}"


def audio(seconds: float) -> bytes:
    """``seconds`` of 16-bit 8 kHz samples: a 0.2 s beep (440 Hz) every second."""
    frames = bytearray()
    beep = [int(6000 * math.sin(2 * math.pi * 440 * n / RATE)) for n in range(RATE // 5)]
    silence = bytes(2 * (RATE - len(beep)))
    beep_bytes = struct.pack(f"<{len(beep)}h", *beep)
    whole, rest = divmod(int(seconds * RATE), RATE)
    for _ in range(whole):
        frames += beep_bytes + silence
    frames += (beep_bytes + silence)[: 2 * rest]
    return bytes(frames)


def write(folder: str, recording: MixMonitor, ended: float) -> str | None:
    """Write the recording's file under ``folder`` (the PBX's monitor folder as
    shared); returns where, or None when it is not Asterisk's ``.wav`` or not
    in the monitor folder."""
    prefix = MONITOR_DIR + "/"
    if not recording.path.startswith(prefix) or not recording.path.lower().endswith(".wav"):
        _logger.info("recording %s not written (not a .wav in %s)", recording.path, MONITOR_DIR)
        return None
    relative = posixpath.normpath(recording.path[len(prefix) :])
    if relative.startswith(".."):
        return None
    target = os.path.join(folder, *relative.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    seconds = min(MAX_SECONDS, max(0.5, ended - recording.started))
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
    with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(audio(seconds))
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)  # whoever reads the folder sees a complete file
    return target
