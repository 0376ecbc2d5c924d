"""Per-font-family scores and a character-confusion summary from `ocrkit eval --format json` reports.

Each image's font family comes from the split's manifest.jsonl (written by `ocrkit synth`); the
scores are the project's own metrics (ocrkit.core_model.metrics), so the per-family numbers add up to
what `ocrkit eval` printed. Confusions come from rapidfuzz's edit operations on the texts as written.

Usage: python scripts/handwriting_report.py MANIFEST [NAME=eval.json ...] [--top 15] [--format json]
Prints Markdown tables (for the README) or JSON.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from ocrkit.core_model.metrics import cer, char_accuracy


def families(manifest: Path) -> dict[tuple[str, str], str]:
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["split"], r["filename"]): r["font_family"] for r in rows}


def per_family(report: dict, fam_of: dict[tuple[str, str], str], split: str) -> dict[str, dict]:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in report["predictions"]:
        groups[fam_of[(split, row["file"])]].append((row["label"], row["text"] or ""))
    out = {}
    for fam, pairs in sorted(groups.items()):
        labels, texts = [p[0] for p in pairs], [p[1] for p in pairs]
        out[fam] = {
            "count": len(pairs),
            "char_accuracy": char_accuracy(labels, texts),
            "cer": cer(labels, texts),
        }
    return out


def confusions(report: dict) -> Counter:
    """(label char, read as) counts; '' for a missing or an extra character."""
    counts: Counter = Counter()
    for row in report["predictions"]:
        label, text = row["label"], row["text"] or ""
        for op in Levenshtein.editops(label, text):
            if op.tag == "replace":
                counts[(label[op.src_pos], text[op.dest_pos])] += 1
            elif op.tag == "delete":
                counts[(label[op.src_pos], "")] += 1
            else:
                counts[("", text[op.dest_pos])] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("reports", nargs="+", help="NAME=eval.json (same split, e.g. before= after=)")
    parser.add_argument("--split", default="test_unseen")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    args = parser.parse_args()

    fam_of = families(args.manifest)
    named = {}
    for spec in args.reports:
        name, _, path = spec.partition("=")
        named[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    scores = {name: per_family(rep, fam_of, args.split) for name, rep in named.items()}
    conf = {name: confusions(rep).most_common(args.top) for name, rep in named.items()}
    if args.format == "json":
        data = {
            "families": scores,
            "confusions": {n: [[a, b, k] for (a, b), k in c] for n, c in conf.items()},
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    names = list(named)
    fams = sorted({f for s in scores.values() for f in s})
    print("| font family | images | " + " | ".join(f"{n} char acc / CER" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for fam in fams:
        cells = [f"{scores[n][fam]['char_accuracy']:.3f} / {scores[n][fam]['cer']:.3f}" for n in names]
        print(f"| {fam} | {scores[names[0]][fam]['count']} | " + " | ".join(cells) + " |")
    for n in names:
        shown = ", ".join(f"{a or '∅'}→{b or '∅'} ×{k}" for (a, b), k in conf[n])
        print(f"\n{n}: most frequent confusions (label→read): {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
