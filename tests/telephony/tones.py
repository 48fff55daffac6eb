"""Which tones a WAV file holds: a Goertzel filter in pure Python (no numpy here)."""

from __future__ import annotations

import array
import math
import sys
import time
import wave
from pathlib import Path


def read_wav(path: Path, *, wait: float = 10.0) -> tuple[list[float], int]:
    """Samples (mono, 16-bit) and rate; waits for a recorder that is still closing the
    file (pjsip writes the header when the port is destroyed, asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with wave.open(str(path), "rb") as wav:
                assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
                rate = wav.getframerate()
                raw = wav.readframes(wav.getnframes())
                break
        except (EOFError, wave.Error, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    samples = array.array("h")
    samples.frombytes(raw)
    if sys.byteorder == "big":
        samples.byteswap()
    return [float(s) for s in samples], rate


def tone_share(samples: list[float], rate: int, freq: float) -> float:
    """The fraction of the signal's power at ``freq`` (0..1, for a bin-aligned tone)."""
    n = len(samples)
    if n == 0:
        return 0.0
    energy = sum(s * s for s in samples)
    if energy == 0:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * power / (n * energy)


def shares(path: Path, freqs: tuple[float, ...], *, skip_s: float = 0.3) -> dict[float, float]:
    """Tone shares over the file, without its first ``skip_s`` seconds (set-up), on a
    length that keeps 440 Hz and 1 kHz on exact bins (a multiple of rate/40 samples)."""
    samples, rate = read_wav(path)
    body = samples[int(skip_s * rate):]
    step = rate // 40
    body = body[:len(body) - len(body) % step]
    return {f: tone_share(body, rate, f) for f in freqs}


def peak_shares(path: Path, freqs: tuple[float, ...], *, window_s: float = 0.5,
                skip_s: float = 0.3) -> dict[float, float]:
    """The largest share of each tone in any ``window_s`` slice of the file: a tone heard
    for a moment of a long recording (whatever the machine's load made of the rest)."""
    samples, rate = read_wav(path)
    body = samples[int(skip_s * rate):]
    size = int(window_s * rate) // (rate // 40) * (rate // 40)
    best = dict.fromkeys(freqs, 0.0)
    for start in range(0, len(body) - size + 1, size):
        window = body[start:start + size]
        for f in freqs:
            best[f] = max(best[f], tone_share(window, rate, f))
    return best
