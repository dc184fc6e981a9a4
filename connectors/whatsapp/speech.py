"""Voice notes -> text: decode OGG/Opus (libsndfile, through soundfile),
downmix and resample to 16 kHz, transcribe with Vosk.

The Vosk model is loaded once per path and shared; recognition runs in a
worker thread so the event loop keeps acknowledging webhooks.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from functools import partial
from math import gcd
from typing import Dict

import numpy as np
import soundfile

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """The audio could not be decoded, or is too long."""


def decode_audio(data: bytes, max_seconds: float) -> np.ndarray:
    """Any libsndfile-readable audio (OGG/Opus voice notes) -> mono int16 at 16 kHz."""
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as audio:
            if audio.frames and audio.frames / audio.samplerate > max_seconds:
                raise AudioError(f"voice note longer than {max_seconds:.0f} s")
            rate = audio.samplerate
            samples = audio.read(dtype="float32", always_2d=True)
    except RuntimeError as exc:  # soundfile.LibsndfileError is one
        raise AudioError(f"undecodable audio: {exc}") from None
    if len(samples) / rate > max_seconds:  # frame count can be unknown for some streams
        raise AudioError(f"voice note longer than {max_seconds:.0f} s")
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        divisor = gcd(rate, SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // divisor, rate // divisor)
    return (np.clip(mono, -1.0, 1.0) * 32767).astype("<i2")


class Transcriber:
    _models: Dict[str, object] = {}
    _lock = threading.Lock()

    def __init__(self, model_path: str, max_seconds: float = 180) -> None:
        self.model_path, self.max_seconds = model_path, max_seconds

    def _model(self):
        with self._lock:
            model = self._models.get(self.model_path)
            if model is None:
                import vosk

                vosk.SetLogLevel(-1)
                logger.info("loading Vosk model %s", self.model_path)
                model = self._models[self.model_path] = vosk.Model(self.model_path)
            return model

    def transcribe_sync(self, data: bytes) -> str:
        import vosk

        pcm = decode_audio(data, self.max_seconds)
        recognizer = vosk.KaldiRecognizer(self._model(), SAMPLE_RATE)
        parts = []
        step = SAMPLE_RATE * 4  # feed 4 s at a time
        for start in range(0, len(pcm), step):
            if recognizer.AcceptWaveform(pcm[start : start + step].tobytes()):
                parts.append(json.loads(recognizer.Result()).get("text", ""))
        parts.append(json.loads(recognizer.FinalResult()).get("text", ""))
        return " ".join(p.strip() for p in parts if p.strip())

    async def transcribe(self, data: bytes) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, partial(self.transcribe_sync, data))

    def preload(self) -> None:
        self._model()
