"""The WAV prompts the simulated line and the tests play (``data/prompts``).

They are generated, not recorded: ``python -m cellcall.telephony.prompts`` writes them
again. 8 kHz, 16-bit mono, whole numbers of cycles so that they loop without a click.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cellcall.resources import data_file
from cellcall.telephony.pjlib import write_tone_wav

CALLEE_TONE = "prompts/callee-1khz.wav"
AGENT_TONE = "prompts/agent-440hz.wav"
CALLEE_PROMPT = "prompts/callee-prompt.wav"


def prompt(name: str) -> Path:
    return data_file(name)


def write_prompts(directory: Path) -> list[Path]:
    made = [directory / Path(CALLEE_TONE).name, directory / Path(AGENT_TONE).name,
            directory / Path(CALLEE_PROMPT).name]
    write_tone_wav(made[0], freqs=(1000.0,), seconds=1.0)
    write_tone_wav(made[1], freqs=(440.0,), seconds=1.0)
    # Syllable-like bursts of a voice-band chord: something to hear in the demo.
    write_tone_wav(made[2], freqs=(180.0, 540.0, 1260.0), seconds=2.0, envelope_hz=3.0)
    return made


if __name__ == "__main__":
    for path in write_prompts(Path(sys.argv[1]) if len(sys.argv) > 1
                              else data_file("prompts")):
        print(path)
