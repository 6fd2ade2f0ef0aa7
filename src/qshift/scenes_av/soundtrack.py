"""The soundtrack of a ``scenes-av`` clip: every object is a voice, derived from what it looks like.

The scene is read as a score, one voice per object, so that the sound and the picture identify
each other only through their content:

- **colour → pitch**: ten notes a minor third apart, 220 Hz (red) to 1,047 Hz (white), in the
  order of :data:`~qshift.data.scenes.COLOURS`, each jittered by up to ±20 cents per object
  (as the renderer jitters the RGB value);
- **shape → timbre**: one partial recipe per shape (:data:`TIMBRES`): a pure sine (circle), odd
  harmonics (square), three equal-ish harmonics (triangle), a bright sawtooth (star), octaves
  only (cross), a sine with vibrato (heart), inharmonic bell partials (diamond), a sine with
  12 Hz tremolo (ring), a sine with a breathy noise band at twice its pitch (moon);
- **size → loudness**: a small object is 7 dB quieter than a large one;
- **motion → rhythm and glide**: the note repeats every 0.25 s (slow) or 0.125 s (fast); an
  object moving up glides up by 1.5 semitones over the clip, one moving down glides down, one
  moving sideways keeps its pitch;
- **column → onset**: the score is read left to right: objects in the left column start at
  once, the centre column 0.125 s later, the right column 0.25 s later.

The row and the background make no sound. Partials above 7 kHz are left out (the Nyquist
frequency at 16 kHz is 8 kHz). Partial phases and the moon's noise come from the clip's sound
seed, so two clips with the same content sound alike but not sample-for-sample the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qshift.data.scenes import COLOURS, SceneObject
from qshift.scenes_av.clips import FRAME_RATE, FRAMES, Clip, Motion

SAMPLE_RATE = 16000
DURATION = FRAMES / FRAME_RATE
#: colour → fundamental (Hz): minor thirds upwards from 220 Hz
PITCHES = {colour: 220.0 * 2 ** (3 * k / 12) for k, colour in enumerate(COLOURS)}
PITCH_JITTER_CENTS = 20.0
#: shape → partials as (frequency ratio, relative amplitude)
TIMBRES: dict[str, tuple[tuple[float, float], ...]] = {
    "circle": ((1.0, 1.0),),
    "square": ((1.0, 1.0), (3.0, 1 / 3), (5.0, 1 / 5), (7.0, 1 / 7)),
    "triangle": ((1.0, 1.0), (2.0, 0.8), (3.0, 0.6)),
    "star": tuple((float(n), 1.0 / n) for n in range(1, 11)),
    "cross": ((1.0, 1.0), (2.0, 0.7), (4.0, 0.5), (8.0, 0.35)),
    "heart": ((1.0, 1.0),),
    "diamond": ((1.0, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)),
    "ring": ((1.0, 1.0), (2.0, 0.3)),
    "moon": ((1.0, 1.0),),
}
VIBRATO_HZ, VIBRATO_SEMITONES = 6.0, 0.5
TREMOLO_HZ = 12.0
#: the moon's noise band: centred on twice the pitch, ±15 % wide, as loud as its sine
BREATH_RATIO, BREATH_WIDTH = 2.0, 0.15
#: size → gain (a small object is 7 dB quieter); peak amplitude of one large voice, which puts a
#: clip at an RMS of about 0.17 (−15.5 dBFS), the loudness of the real recordings that READ's noise
#: levels were set for; where voices add above full scale the sum clips, as a loud recording does
GAINS = {"small": 10 ** (-7 / 20), "large": 1.0}
VOICE_PEAK = 0.9
#: speed → seconds between notes; each note rises in 4 ms and decays with 0.35 of its period
PERIODS = {"slow": 0.25, "fast": 0.125}
ATTACK = 0.004
DECAY_SHARE = 0.35
#: direction → glide over the clip in semitones
GLIDES = {"up": 1.5, "down": -1.5, "left": 0.0, "right": 0.0}
#: column → onset of the first note (seconds)
ONSET_STEP = 0.125
MAX_PARTIAL_HZ = 7000.0


@dataclass(frozen=True)
class Voice:
    """What one object sounds like: the mapping above, resolved for that object."""

    pitch: float
    timbre: str
    gain: float
    onset: float
    period: float
    glide: float


def voice(obj: SceneObject, motion: Motion, cents: float = 0.0) -> Voice:
    """The voice of ``obj`` moving by ``motion``, its pitch moved by ``cents``."""
    return Voice(
        pitch=PITCHES[obj.colour] * 2 ** (cents / 1200),
        timbre=obj.shape,
        gain=GAINS[obj.size],
        onset=obj.col * ONSET_STEP,
        period=PERIODS[motion.speed],
        glide=GLIDES[motion.direction],
    )


def voices(clip: Clip, rng: np.random.Generator) -> list[Voice]:
    """The voices of every object of ``clip``, with pitch jitter drawn from ``rng``."""
    return [
        voice(obj, motion, float(rng.uniform(-PITCH_JITTER_CENTS, PITCH_JITTER_CENTS)))
        for obj, motion in zip(clip.scene.objects, clip.motions, strict=True)
    ]


def envelope(v: Voice, t: np.ndarray) -> np.ndarray:
    """The loudness over time: a note every ``period`` seconds from ``onset`` on.

    Each note rises as ``1 − exp(−s / ATTACK)`` and decays as ``exp(−s / decay)``, ``s`` seconds
    after it starts; the tails of the earlier notes add a geometric series (their rise is
    complete by then, to within ``exp(−period / ATTACK)``).
    """
    decay = DECAY_SHARE * v.period
    after = t - v.onset
    played = after >= 0
    count = np.floor(np.where(played, after, 0.0) / v.period)
    since = after - count * v.period
    tail = np.exp(-v.period / decay)
    earlier = tail * (1 - tail**count) / (1 - tail)
    return np.where(played, np.exp(-since / decay) * (1 - np.exp(-since / ATTACK) + earlier), 0.0)


def _band_noise(n: int, low: float, high: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """White noise kept between ``low`` and ``high`` Hz, scaled to unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    band = np.fft.irfft(spectrum, n)
    return band / max(float(np.abs(band).max()), 1e-9)


def render_voice(
    v: Voice, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE, duration: float = DURATION
) -> np.ndarray:
    """One voice as a float64 waveform of ``duration`` seconds."""
    n = round(duration * sample_rate)
    t = np.arange(n) / sample_rate
    semitones = v.glide * (t / duration - 0.5)
    if v.timbre == "heart":
        semitones = semitones + VIBRATO_SEMITONES * np.sin(2 * np.pi * VIBRATO_HZ * t)
    freq = v.pitch * 2 ** (semitones / 12)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    partials = [
        (r, a) for r, a in TIMBRES[v.timbre] if v.pitch * r * 2 ** (abs(v.glide) / 24) < MAX_PARTIAL_HZ
    ]
    total = sum(a for _, a in partials)
    tone = sum(a * np.sin(r * phase + rng.uniform(0, 2 * np.pi)) for r, a in partials) / total
    if v.timbre == "ring":
        tone = tone * (0.5 + 0.5 * np.cos(2 * np.pi * TREMOLO_HZ * t))
    if v.timbre == "moon":
        centre = BREATH_RATIO * v.pitch
        breath = _band_noise(n, centre * (1 - BREATH_WIDTH), centre * (1 + BREATH_WIDTH), sample_rate, rng)
        tone = 0.5 * (tone + breath)
    return VOICE_PEAK * v.gain * envelope(v, t) * tone


def soundtrack(
    clip: Clip, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE, duration: float = DURATION
) -> np.ndarray:
    """The clip's sound: the sum of its voices, a 1-D float32 waveform in [−1, 1]."""
    n = round(duration * sample_rate)
    wave = np.zeros(n)
    for v in voices(clip, rng):
        wave += render_voice(v, rng, sample_rate, duration)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)
