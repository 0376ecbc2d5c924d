"""Write a synthetic dataset in the Kaggle layout that ``ocrkit eval`` and ``ocrkit train`` read.

::

    OUT/train/        train.tsv         (filename<TAB>label)   seen font families
    OUT/test/         test.tsv                                 seen font families, other samples
    OUT/test_unseen/  test_unseen.tsv                          only the held-out families
    OUT/manifest.jsonl                                         split, file, label, font, seed per image

Each image's randomness comes from ``SeedSequence([seed, split, index])``: the same ``--seed``
gives the same files byte for byte, whatever else changes in the run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ocrkit.errors import OcrkitError
from ocrkit.synth.fonts import DEFAULT_FAMILIES, FAMILY_NAMES, FontFace, find_fonts, missing_downloaded
from ocrkit.synth.render import render_sample
from ocrkit.synth.texts import TextSampler

SPLITS = ("train", "test", "test_unseen")
STYLES = ("scan", "pen", "joined")
DEFAULT_UNSEEN = ("liberation",)
MANIFEST = "manifest.jsonl"

ProgressCallback = Callable[[int, int], None]


@dataclass
class SynthConfig:
    out: Path
    #: training images (0: only the test splits, e.g. a fresh evaluation set)
    count: int = 1000
    test_count: int | None = None
    unseen_count: int | None = None
    seed: int = 0
    #: font families to use (None: every Debian family with usable faces)
    fonts: list[str] | None = None
    #: families kept out of train/test and used only for test_unseen
    unseen_fonts: list[str] = field(default_factory=lambda: list(DEFAULT_UNSEEN))
    image_format: str = "png"
    force: bool = False
    vocabulary: int = 50_000
    #: "scan" (the original variation), "pen" (adds pen-and-scan effects: baseline wobble, ink
    #: fading and blots, ruled paper) or "joined" (pen, letters joined as in cursive); render.py
    style: str = "scan"

    def split_counts(self) -> dict[str, int]:
        test = self.test_count if self.test_count is not None else max(1, self.count // 10)
        unseen = self.unseen_count if self.unseen_count is not None else test
        return {"train": self.count, "test": test, "test_unseen": unseen}


@dataclass
class SynthSummary:
    out: Path
    counts: dict[str, int]
    seen_fonts: list[str]
    unseen_fonts: list[str]
    skipped_fonts: list[str]
    #: handwriting families asked for but not in the font cache (``make fonts`` installs them)
    missing_fonts: list[str] = field(default_factory=list)


def _check(config: SynthConfig) -> None:
    if config.count < 0:
        raise OcrkitError(f"--count must be 0 or more, got {config.count}")
    for name, value in (("--test-count", config.test_count), ("--unseen-count", config.unseen_count)):
        if value is not None and value < 0:
            raise OcrkitError(f"{name} must be 0 or more, got {value}")
    if config.style not in STYLES:
        raise OcrkitError(f"style must be one of {', '.join(STYLES)}, got {config.style!r}")
    if config.image_format not in ("png", "jpg"):
        raise OcrkitError(f"image format must be png or jpg, got {config.image_format!r}")
    for label, fams in (("--fonts", config.fonts or []), ("--unseen-font", config.unseen_fonts)):
        unknown = [f for f in fams if f not in FAMILY_NAMES]
        if unknown:
            raise OcrkitError(
                f"{label}: unknown font family {', '.join(repr(u) for u in unknown)}",
                hint=f"choose from {', '.join(FAMILY_NAMES)}",
            )


def _pick_faces(config: SynthConfig) -> tuple[list[FontFace], list[FontFace], list[str], list[str]]:
    wanted = list(config.fonts) if config.fonts else list(DEFAULT_FAMILIES)
    for fam in config.unseen_fonts:
        if fam not in wanted:
            wanted.append(fam)
    missing = missing_downloaded(wanted)
    scan = find_fonts(wanted)
    unseen_set = set(config.unseen_fonts)
    seen = [f for f in scan.faces if f.family not in unseen_set]
    unseen = [f for f in scan.faces if f.family in unseen_set]
    # a missing downloaded family is said first, whatever else is wrong
    prefix = (
        f"handwriting fonts missing: {', '.join(missing)} (install them with `make fonts` or "
        "`ocrkit fonts --install`); "
        if missing
        else ""
    )
    if not seen:
        raise OcrkitError(
            prefix + "no usable font with Cyrillic glyphs for the training split "
            f"(families {', '.join(f for f in wanted if f not in unseen_set) or 'none'})",
            hint="install fonts-sjfonts fonts-urw-base35 fonts-uralic fonts-cmu fonts-dejavu-core "
            "fonts-paratype, or point $OCRKIT_FONT_DIRS at a folder of .ttf/.otf fonts",
        )
    counts = config.split_counts()
    if counts["test_unseen"] and not unseen:
        raise OcrkitError(
            prefix
            + f"no usable font of the held-out families ({', '.join(config.unseen_fonts)}) for test_unseen",
            hint="install it, choose another with --unseen-font, or pass --unseen-count 0",
        )
    return seen, unseen, list(scan.skipped), missing


def _face_probs(faces: list[FontFace]) -> np.ndarray:
    """Each family gets its weight, shared among its faces (a family with many files is not favoured)."""
    per_family: dict[str, int] = {}
    for f in faces:
        per_family[f.family] = per_family.get(f.family, 0) + 1
    w = np.array([f.weight / per_family[f.family] for f in faces], dtype=np.float64)
    return w / w.sum()


def generate_dataset(config: SynthConfig, progress: ProgressCallback | None = None) -> SynthSummary:
    """Render and write every split; returns what was written."""
    _check(config)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise OcrkitError(f"--out {out} exists and is not a folder")
    existing = [p for p in (*(out / s for s in SPLITS), out / MANIFEST) if p.exists()]
    if existing and not config.force:
        raise OcrkitError(
            f"{out} already holds a dataset ({existing[0].name})", hint="choose another --out or pass --force"
        )
    seen, unseen, skipped, missing = _pick_faces(config)
    sampler = TextSampler(config.vocabulary)
    counts = config.split_counts()
    total = sum(counts.values())

    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
        (out / f"{split}.tsv").unlink(missing_ok=True)

    done = 0
    if progress:
        progress(0, total)
    with open(out / MANIFEST, "w", encoding="utf-8") as manifest:
        for split_index, split in enumerate(SPLITS):
            n = counts[split]
            if n == 0:
                continue
            faces = unseen if split == "test_unseen" else seen
            probs = _face_probs(faces)
            folder = out / split
            folder.mkdir()
            width = max(6, len(str(n)))
            lines = []
            for i in range(n):
                rng = np.random.default_rng(np.random.SeedSequence([config.seed, split_index, i]))
                text = sampler.sample(rng)
                face = faces[int(rng.choice(len(faces), p=probs))]
                sample_seed = int(rng.integers(0, 2**63 - 1))
                img = render_sample(text, face, sample_seed, style=config.style)
                name = f"{split}_{i:0{width}d}.{config.image_format}"
                write_image(folder / name, img)
                lines.append(f"{name}\t{text}\n")
                manifest.write(
                    json.dumps(
                        {
                            "split": split,
                            "filename": name,
                            "label": text,
                            "font_family": face.family,
                            "font_file": face.name,
                            "seed": sample_seed,
                            **({"style": config.style} if config.style != "scan" else {}),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                done += 1
                if progress:
                    progress(done, total)
            (out / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return SynthSummary(
        out=out,
        counts=counts,
        seen_fonts=sorted({f.family for f in seen}),
        unseen_fonts=sorted({f.family for f in unseen}),
        skipped_fonts=skipped,
        missing_fonts=missing,
    )


def write_image(path: Path, rgb: np.ndarray) -> None:
    """PNG (lossless) or JPEG (quality 92) through OpenCV, which wants BGR."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:  # pragma: no cover - OpenCV encoders do not fail on valid arrays
        raise OcrkitError(f"cannot encode {path.name}")
    path.write_bytes(buf.tobytes())


#: The fixed texts of the shipped samples (ocrkit/assets/samples): words, a name, a date, quotes.
SAMPLE_TEXTS: tuple[str, ...] = (
    "заявление",
    "Москва",
    "15.09.03",
    "Лебедевна Н.",
    "с детьми",
    "«договор»",
    "улица Ленина",
    "счёт",
    "Иванов И.И.",
    "хорошо",
    "12 мая 2003 г.",
    "подпись",
)


def write_samples(
    out: Path,
    texts: tuple[str, ...] = SAMPLE_TEXTS,
    *,
    seed: int = 0,
    families: tuple[str, ...] = ("stevehand", "z003", "chancery", "dejavu", "paratype", "cmu"),
) -> list[tuple[str, str, str]]:
    """Render ``texts`` (one image each, cycling through ``families``) as small JPEGs plus labels.tsv.

    Returns (filename, label, font family) per image.
    """
    scan = find_fonts(list(families))
    by_family: dict[str, FontFace] = {}
    for face in scan.faces:
        by_family.setdefault(face.family, face)
    usable = [by_family[f] for f in families if f in by_family]
    if not usable:
        raise OcrkitError(f"none of the font families {', '.join(families)} is installed")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, text in enumerate(texts):
        face = usable[i % len(usable)]
        name = f"sample{i + 1:02d}.jpg"
        write_image(out / name, render_sample(text, face, seed * 1000 + i))
        rows.append((name, text, face.family))
    (out / "labels.tsv").write_text("".join(f"{n}\t{t}\n" for n, t, _ in rows), encoding="utf-8")
    return rows
