"""Generate the ``synth-kws`` keyword corpus from synthesised speech, in the Speech Commands v2 layout.

    python -m robust_snn.data.make_synth_kws --out DIR [--size default|tiny] [--seed 0] [--pack FILE.npz]

Needs Debian's ``espeak-ng``, ``flite`` and ``sox`` (``apt-get install -y espeak-ng flite sox``) at generation
time only; the shipped corpus (``robust_snn/data/synth_kws.npz``, made with ``--pack``) needs nothing at run time.

What it makes (all draws from ``--seed``):

- Voices: espeak-ng's English accents (``en``, ``en-us``, Scottish, Lancaster, RP, West Midlands, Caribbean,
  New York) times its voice variants (``+m3``, ``+f2``, ``+klatt4``, ...), and flite's ``kal``, ``kal16``,
  ``awb``, ``rms``, ``slt``. A *voice identity* is an espeak-ng variant (heard with every accent) or a flite voice.
  About 15 % of the variants (stratified by the gender espeak-ng gives them) are held out for test and another
  15 % for val, with flite's ``slt`` for test and ``rms`` for val: no voice of train is heard in val or test.
- Clips: each word spoken by voices of its split, with random speed and pitch (and for flite, a sox pitch shift),
  trimmed, sped up if longer than 0.95 s, placed at a random offset in 1 s of silence, at 16 kHz, written as
  ``WORD/VOICE_nohash_N.wav`` with ``validation_list.txt`` and ``testing_list.txt``.
- ``_background_noise_/``: six 20 s recordings (white, pink, brown noise, mains hum, running water, babble of
  non-keyword sentences). The loader mixes them into word clips at a random SNR and cuts ``_silence_`` from
  them, with disjoint time regions per split.

``--pack`` stores the folder as 8 kHz 7-bit mu-law audio in one ``numpy.savez_compressed`` file (no pickle):
words are trimmed to their non-silent samples (lossless after mu-law), so the default corpus (6,314 clips) fits in
about 15 MB while any front end can still be applied to it. Why audio rather than features: the front end (band
count, MFCC, encodings) stays a choice of the user, and noise/augmentation are drawn at load time. Why 7 bits:
see :func:`robust_snn.data.packed.pack_folder`. Same seed and engine versions give the same file, byte for byte
(sox runs without dither, with repeatable random numbers; espeak-ng's noise does not depend on the machine's
PulseAudio state, see :func:`_espeak_env`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import trim_silence, write_wav
from .keywords import PAPER_WORDS, SC35_WORDS
from .spec import DataError

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
"""espeak-ng's English accents (language voices)."""
FEMALE_VARIANTS = ("Alicia", "Andrea", "Annie", "anika", "aunty", "belinda", "f1", "f2", "f3", "f4", "f5",
                   "grandma", "linda", "steph", "steph2", "steph3")
MALE_VARIANTS = (
    "Alex", "Andy", "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Mario",
    "Marco", "Michael", "Mike", "Nguyen", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "adam",
    "announcer", "antonio", "benjamin", "boris", "caleb", "croak", "david", "ed", "edward", "edward2", "fast",
    "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt", "klatt2", "klatt3",
    "klatt4", "klatt5", "klatt6", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel",
    "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "robosoft", "robosoft2", "robosoft3",
    "robosoft4", "robosoft5", "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "travis", "victor", "zac",
)
"""espeak-ng 1.51 voice variants (genders as ``espeak-ng --voices=variant`` lists them); left out: whisper,
whisperf (unvoiced), Demonic, UniRobot, anikaRobot (not speech-like), "Mr serious" (a space in its name)."""
FLITE_SPLITS = {"kal": "train", "kal16": "train", "awb": "train", "rms": "val", "slt": "test"}
BABBLE = (  # background talk: no word of Speech Commands may occur in it (a test checks)
    "the weather was pleasant for most of the afternoon", "please bring a cup of coffee to the kitchen",
    "it was a very long meeting about the budget", "she reads the paper every morning at the station",
    "they painted the fence a bright shade of green", "the children played in the garden until dinner",
    "we should check the schedule before we travel", "he bought fresh bread and cheese at the market",
    "the museum opens early and closes late in summer", "a small boat drifted slowly across the lake",
)
RATE = 16000
CLIP_SECONDS = 1.0
MAX_WORD_SECONDS = 0.95
NOISE_SECONDS = 20.0
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Plan:
    """How many clips: per keyword and per other word, by split; the share of clips spoken by flite."""

    keywords: tuple[str, ...] = PAPER_WORDS
    others: tuple[str, ...] = tuple(w for w in SC35_WORDS if w not in PAPER_WORDS)
    keyword_clips: dict[str, int] = field(default_factory=lambda: {"train": 560, "val": 90, "test": 180})
    other_clips: dict[str, int] = field(default_factory=lambda: {"train": 30, "val": 6, "test": 10})
    accents: tuple[str, ...] = ACCENTS
    female: tuple[str, ...] = FEMALE_VARIANTS
    male: tuple[str, ...] = MALE_VARIANTS
    flite_share: float = 0.1
    noise_seconds: float = NOISE_SECONDS
    babble: bool = True


SIZES = {
    "default": Plan(),
    "tiny": Plan(keywords=("yes", "no"), others=("cat",), keyword_clips={"train": 3, "val": 2, "test": 2},
                 other_clips={"train": 2, "val": 1, "test": 1}, accents=("en", "en-us"),
                 female=("f1", "f2", "f3"), male=("m1", "m2", "m3"), flite_share=0.2, noise_seconds=8.0,
                 babble=False),
}


@dataclass(frozen=True)
class Job:
    """One clip to synthesise: engine settings and where it goes."""

    word: str
    split: str
    engine: str  # "espeak" or "flite"
    voice: str  # espeak "accent+variant" or flite voice name
    identity: str  # file-name-safe voice id, e.g. "espeak.en-us.f2" (the variant is the held-out unit)
    speed: float  # espeak words per minute, or flite duration stretch
    pitch: float  # espeak pitch 0..99, or a sox pitch shift in cents for flite
    start: float  # fraction of the free time before the word


def require_tools(names: tuple[str, ...] = ("espeak-ng", "flite", "sox")) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise DataError(f"making synth-kws needs {', '.join(missing)}: apt-get install -y espeak-ng flite sox")


def split_voices(plan: Plan, rng: np.random.Generator) -> dict[str, list[str]]:
    """espeak-ng variants per split: 15 % of each gender for test, 15 % for val (at least one each), rest train."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for group in (plan.female, plan.male):
        order = [group[i] for i in rng.permutation(len(group))]
        k = max(1, round(0.15 * len(group)))
        out["test"] += order[:k]
        out["val"] += order[k : 2 * k]
        out["train"] += order[2 * k :]
    return {s: sorted(v) for s, v in out.items()}


def make_jobs(plan: Plan, variants: dict[str, list[str]], rng: np.random.Generator) -> list[Job]:
    """Every clip of the corpus; voices of a split are cycled in a shuffled order so each is used evenly."""
    jobs = []
    for split in SPLITS:
        espeak = [(a, v) for v in variants[split] for a in plan.accents]
        flite = [v for v, s in FLITE_SPLITS.items() if s == split]
        for word in plan.keywords + plan.others:
            n = (plan.keyword_clips if word in plan.keywords else plan.other_clips)[split]
            voices = [espeak[i] for i in rng.permutation(len(espeak))]
            for k in range(n):
                if flite and rng.random() < plan.flite_share:
                    name = flite[int(rng.integers(len(flite)))]
                    jobs.append(Job(word, split, "flite", name, f"flite.{name}", float(rng.uniform(0.8, 1.3)),
                                    float(rng.uniform(-300, 300)), float(rng.random())))
                else:
                    accent, variant = voices[k % len(voices)]
                    jobs.append(Job(word, split, "espeak", f"{accent}+{variant}", f"espeak.{accent}.{variant}",
                                    float(rng.integers(120, 221)), float(rng.integers(20, 81)), float(rng.random())))
    return jobs


def _run(cmd: list[str], stdin: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False, env=env)
    if proc.returncode != 0:
        raise DataError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _to_raw(wav: bytes, *effects: str) -> np.ndarray:
    # -D -R: no dither and repeatable random numbers, so the same seed gives the same bytes.
    raw = _run(["sox", "-D", "-R", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
                "-c", "1", "-", *effects], wav)
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def _espeak_env(runtime_dir: str) -> dict[str, str]:
    """The environment for one espeak-ng call: ours, with PulseAudio's runtime directory pinned to ``runtime_dir``.

    Why: espeak-ng 1.51 draws the noise of breathy and Klatt voices (``+f2``, ``+klatt4``, ...) from the C
    library's unseeded ``rand()``, and it sets up an audio output (pcaudiolib, libpulse) even with ``--stdout``.
    When ``~/.config/pulse/<machine-id>-runtime`` is missing or dangling (the first espeak-ng run on a machine or
    in a fresh ``$HOME``, or after ``/tmp`` was cleared), libpulse names a new ``/tmp/pulse-XXXXXXXXXXXX`` folder
    with ``rand()``, one draw per letter and more for each name already taken, so that process's clip differs.
    With ``PULSE_RUNTIME_PATH`` set, libpulse uses that folder and calls no ``rand()``: every clip is the one the
    settled state gives, whatever the machine's PulseAudio state.
    """
    return {**os.environ, "PULSE_RUNTIME_PATH": runtime_dir}


def synthesise(text: str, engine: str, voice: str, speed: float, pitch: float) -> np.ndarray:
    """Speech ``(samples,)`` float32 at 16 kHz from one engine call (sox resamples and shifts pitch)."""
    if engine == "espeak":
        with tempfile.TemporaryDirectory() as tmp:
            wav = _run(["espeak-ng", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", text],
                       env=_espeak_env(tmp))
        return _to_raw(wav)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        _run(["flite", "-voice", voice, "--setf", f"duration_stretch={speed:.3f}", "-t", text, "-o", str(path)])
        return _to_raw(path.read_bytes(), "pitch", f"{pitch:.0f}")


def render(job: Job) -> np.ndarray:
    """The 1 s clip of ``job``: trimmed word, sped up to fit, at a random offset, peak at -3 dB full scale."""
    wave = synthesise(job.word, job.engine, job.voice, job.speed, job.pitch)
    start, stop = trim_silence(wave, RATE)
    word = wave[start:stop]
    if len(word) == 0:
        raise DataError(f"{job.engine} voice {job.voice} produced silence for {job.word!r}")
    if len(word) > MAX_WORD_SECONDS * RATE:
        tempo = len(word) / (MAX_WORD_SECONDS * RATE) * 1.01
        buffer = _wav_bytes(word)
        word = _to_raw(buffer, "tempo", f"{tempo:.4f}")[: int(MAX_WORD_SECONDS * RATE)]
    word = word * (10 ** (-3 / 20) / max(float(np.abs(word).max()), 1e-6))
    clip = np.zeros(int(CLIP_SECONDS * RATE), np.float32)
    offset = int(job.start * (len(clip) - len(word)))
    clip[offset : offset + len(word)] = word
    return clip


def _wav_bytes(wave: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.wav"
        write_wav(path, wave, RATE)
        return path.read_bytes()


def make_noise(plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Background recordings ``{name: (samples,) float32}`` at 16 kHz, ``plan.noise_seconds`` long."""
    n = int(plan.noise_seconds * RATE)
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(f, 20.0)), n)
    brown = np.fft.irfft(spectrum / np.maximum(f, 20.0), n)
    t = np.arange(n) / RATE
    mains = rng.choice([50.0, 60.0])
    hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8))
    hum = hum + 0.05 * pink / pink.std()
    band = (f > 800) & (f < 5000)
    water = np.fft.irfft(np.where(band, spectrum, 0), n)
    water *= 1 + 0.5 * np.sin(2 * np.pi * 3.0 * t) * np.sin(2 * np.pi * 0.37 * t)
    noise = {"white_noise": white, "pink_noise": pink, "brown_noise": brown, "mains_hum": hum,
             "running_water": water}
    if plan.babble:
        noise["babble"] = make_babble(n, rng)
    return {k: (0.3 * v / np.abs(v).max()).astype(np.float32) for k, v in noise.items()}


def make_babble(n: int, rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """``talkers`` espeak-ng voices reading sentences without any Speech Commands word, summed."""
    out = np.zeros(n)
    variants = FEMALE_VARIANTS + MALE_VARIANTS
    for _ in range(talkers):
        stream: list[np.ndarray] = []
        while sum(map(len, stream)) < n:
            voice = f"{rng.choice(ACCENTS)}+{rng.choice(variants)}"
            stream.append(synthesise(str(rng.choice(BABBLE)), "espeak", voice, int(rng.integers(140, 200)),
                                     int(rng.integers(30, 70))))
        speech = np.concatenate(stream)
        start = int(rng.integers(0, len(speech) - n + 1))
        out += speech[start : start + n] / max(float(np.abs(speech).max()), 1e-6)
    return out


def engine_versions() -> dict[str, str]:
    out = {}
    for name, cmd in (("espeak-ng", ["espeak-ng", "--version"]), ("flite", ["flite", "--version"]),
                      ("sox", ["sox", "--version"])):
        lines = subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()
        out[name] = next((line.strip() for line in lines if any(c.isdigit() for c in line)), "")
    return out


def generate(out: Path, size: str = "default", seed: int = 0, jobs: int | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Write the corpus in the Speech Commands layout under ``out``; return its description (also in about.json)."""
    require_tools()
    plan = SIZES[size]
    rng = np.random.default_rng(seed)
    variants = split_voices(plan, rng)
    work = make_jobs(plan, variants, rng)
    noise_rng = np.random.default_rng([seed, 1])
    out.mkdir(parents=True, exist_ok=True)
    log(f"synthesising {len(work)} clips with {jobs or os.cpu_count()} workers ...")
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
        clips = list(pool.map(render, work))
    counters: dict[tuple[str, str], int] = {}
    lists: dict[str, list[str]] = {"val": [], "test": []}
    for job, clip in zip(work, clips):
        n = counters.get((job.word, job.identity), 0)
        counters[(job.word, job.identity)] = n + 1
        rel = f"{job.word}/{job.identity}_nohash_{n}.wav"
        (out / job.word).mkdir(exist_ok=True)
        write_wav(out / rel, clip, RATE)
        if job.split in lists:
            lists[job.split].append(rel)
    (out / "validation_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["val"])))
    (out / "testing_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["test"])))
    log("making background noise ...")
    noise_dir = out / "_background_noise_"
    noise_dir.mkdir(exist_ok=True)
    for name, wave in make_noise(plan, noise_rng).items():
        write_wav(noise_dir / f"{name}.wav", wave, RATE)
    about = {
        "corpus": "synth-kws", "size": size, "seed": seed, "sample_rate": RATE, "clips": len(work),
        "held_out": {"val": {"espeak-ng variants": variants["val"],
                             "flite voices": [v for v, s in FLITE_SPLITS.items() if s == "val"]},
                     "test": {"espeak-ng variants": variants["test"],
                              "flite voices": [v for v, s in FLITE_SPLITS.items() if s == "test"]}},
        "accents": list(plan.accents), "engines": engine_versions(),
    }
    (out / "about.json").write_text(json.dumps(about, indent=2) + "\n")
    return about


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robust_snn.data.make_synth_kws", description=__doc__.split("\n")[0],
        epilog="example: python -m robust_snn.data.make_synth_kws --out /tmp/skws --pack robust_snn/data/synth_kws.npz")
    parser.add_argument("--out", required=True, help="folder to write (Speech Commands layout)")
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="corpus size preset")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--jobs", type=int, default=None, help="parallel synthesis processes (default: all cores)")
    parser.add_argument("--pack", default=None, help="also pack the folder into this .npz file (8 kHz 7-bit mu-law)")
    args = parser.parse_args(argv)
    try:
        about = generate(Path(args.out), args.size, args.seed, args.jobs)
        if args.pack:
            from .packed import pack_folder

            size = pack_folder(Path(args.out), Path(args.pack), about)
            print(f"packed {about['clips']} clips into {args.pack} ({size / 1e6:.1f} MB)")
    except DataError as exc:
        print(f"make_synth_kws: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(about["held_out"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
