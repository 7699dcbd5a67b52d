"""A bundled, fully synthetic LongHealth-style benchmark (no real patient data).

Each record is a short discharge summary (~1,000-1,100 characters, ~270-300 tokens of the
SmolLM2-135M tokenizer, which splits numbers into single digits) with one five-option question about it. Design choices:

* **Shared header.** Every summary opens with the same :data:`HEADER` (28 SmolLM2 tokens), so a
  compressor that keeps only the first 16 tokens keeps *no* record-specific information: a
  zero-information control. The patient's name comes only after it.
* **Shuffled sections.** After the patient line, the sections (diagnosis, history, labs,
  procedure, follow-up, medication, vitals, filler sentences) are shuffled per record, so the
  answer's position varies.
* **Cycled question types** (:data:`QUESTION_TYPES`): a drug's dose, a lab value, a procedure's
  date, the principal diagnosis, the procedure done on a date.
* **Confusers.** Each question's distractors include *in-record* confusers (the other drug's
  dose, the other lab's value, the admission/discharge dates, the past-history condition, the
  follow-up procedure); the remaining distractors never occur in the record. Every answer is
  stated verbatim in its record; no option is a substring of another.
* **Balanced answer positions.** Distractors are shuffled; the answer goes to slot
  ``(i + i // 5) % 5``, so each question type meets each slot equally often.
* **Determinism.** Only :class:`random.Random` with integer seeds is used (record ``i`` draws
  from ``Random(seed * 1_000_003 + i)``), so the output is byte-identical on every machine and
  the first ``k`` records do not depend on ``n_records``.

Regenerate the bundled file with::

    python -m mi_utils.data.synthetic --n 32 --seed 0 --out data/synthetic_clinical.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..paths import bundled_file
from .records import Record, read_jsonl, records_to_jsonl, write_jsonl

__all__ = [
    "HEADER",
    "QUESTION_TYPES",
    "DATASET_NAME",
    "DEFAULT_N_RECORDS",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "build_synthetic_clinical",
    "default_synthetic_path",
    "load_synthetic",
    "SHARED_DATASET_NAME",
    "SHARED_QUERY",
    "shared_question_records",
    "load_synthetic_shared",
    "main",
]

DATASET_NAME = "synthetic_clinical"
#: The shared-question task: the same records, one question asked of every record.
SHARED_DATASET_NAME = "synthetic_clinical_shared"
#: The question of the shared-question task. It names no patient, so Q carries nothing about
#: which record it is asked of, and I(X;Z|Q) is the information the summary keeps about X.
SHARED_QUERY = "What was the patient's principal diagnosis during this admission?"
DEFAULT_N_RECORDS = 32
DEFAULT_SEED = 0
GENERATOR_VERSION = 1

HEADER = (
    "St. Example General Hospital - Discharge Summary. Department of Internal Medicine, Ward 3. "
    "This letter is addressed to the referring physician."
)

QUESTION_TYPES: tuple[str, ...] = ("dose", "lab_value", "procedure_date", "diagnosis", "procedure_on_date")

# Target length of a summary, in characters (header and newlines included).
_MIN_CHARS = 1000
_MAX_CHARS = 1100

_FIRST_NAMES = {
    "female": (
        "Maria",
        "Anna",
        "Laura",
        "Sophie",
        "Helen",
        "Clara",
        "Julia",
        "Emma",
        "Rita",
        "Nora",
        "Ingrid",
        "Paula",
    ),
    "male": (
        "Thomas",
        "Peter",
        "Michael",
        "Daniel",
        "Jonas",
        "Frank",
        "Lukas",
        "Oliver",
        "Victor",
        "Henry",
        "Simon",
        "Karl",
    ),
}
_LAST_NAMES = (
    "Becker",
    "Hoffmann",
    "Keller",
    "Lindner",
    "Moreau",
    "Novak",
    "Olsen",
    "Petrov",
    "Quinn",
    "Richter",
    "Santos",
    "Torres",
    "Vogel",
    "Wagner",
    "Young",
    "Zimmer",
    "Brandt",
    "Costa",
    "Dahl",
    "Ellis",
)
_DIAGNOSES = (
    "community-acquired pneumonia",
    "acute decompensated heart failure",
    "acute pyelonephritis",
    "diabetic ketoacidosis",
    "pulmonary embolism",
    "acute pancreatitis",
    "upper gastrointestinal bleeding",
    "exacerbation of chronic obstructive pulmonary disease",
    "cellulitis of the left lower leg",
    "acute kidney injury",
    "atrial fibrillation with rapid ventricular response",
    "non-ST-elevation myocardial infarction",
    "ischemic stroke of the right hemisphere",
    "urosepsis",
    "acute cholecystitis",
    "deep vein thrombosis of the right leg",
)
_HISTORY = (
    "type 2 diabetes mellitus",
    "arterial hypertension",
    "chronic kidney disease stage 3",
    "hypothyroidism",
    "osteoarthritis of both knees",
    "gout",
    "hyperlipidemia",
    "bronchial asthma",
    "benign prostatic hyperplasia",
    "iron deficiency anemia",
)
_PROCEDURES = (
    "colonoscopy",
    "transthoracic echocardiography",
    "upper endoscopy",
    "coronary angiography",
    "abdominal ultrasound",
    "CT scan of the chest",
    "lumbar puncture",
    "bronchoscopy",
    "MRI of the head",
    "thoracentesis",
    "electrical cardioversion",
    "duplex ultrasound of the leg veins",
)
# (name, unit, low, high, decimals)
_LABS = (
    ("hemoglobin", "g/dL", 8.0, 15.5, 1),
    ("creatinine", "mg/dL", 0.6, 3.4, 1),
    ("potassium", "mmol/L", 3.1, 5.6, 1),
    ("sodium", "mmol/L", 128, 146, 0),
    ("C-reactive protein", "mg/L", 4, 180, 0),
    ("leukocyte count", "x10^9/L", 3.5, 18.0, 1),
    ("platelet count", "x10^9/L", 95, 420, 0),
    ("fasting glucose", "mg/dL", 72, 310, 0),
    ("HbA1c", "%", 5.2, 11.5, 1),
    ("ALT", "U/L", 12, 160, 0),
    ("troponin T", "ng/L", 6, 240, 0),
    ("TSH", "mU/L", 0.4, 6.0, 1),
)
# (drug, doses, unit)
_DRUGS = (
    ("metformin", (500, 850, 1000), "mg"),
    ("lisinopril", (5, 10, 20), "mg"),
    ("atorvastatin", (10, 20, 40, 80), "mg"),
    ("metoprolol", (25, 50, 100), "mg"),
    ("amlodipine", (5, 10), "mg"),
    ("furosemide", (20, 40, 80), "mg"),
    ("pantoprazole", (20, 40), "mg"),
    ("apixaban", (2.5, 5), "mg"),
    ("levothyroxine", (50, 75, 100, 125), "mcg"),
    ("sertraline", (50, 100), "mg"),
    ("prednisolone", (5, 10, 20), "mg"),
    ("allopurinol", (100, 300), "mg"),
)
_FREQUENCIES = ("once daily", "twice daily", "three times daily", "at bedtime")
_FILLERS = (
    "The patient was informed about all findings and agreed with the further treatment plan.",
    "Mobilisation was started early and was well tolerated.",
    "During the stay the patient received physiotherapy and dietary counselling.",
    "No drug allergies are known.",
    "The patient lives independently and is supported by family members.",
    "Smoking history was discussed and complete cessation was recommended.",
    "Inspection of the skin showed no pressure sores.",
    "The general condition improved steadily over the course of the admission.",
    "Pain was controlled adequately with oral analgesics as needed.",
    "The patient was alert and fully oriented throughout the stay.",
    "Nursing staff reported good adherence to the medication schedule.",
    "Fluid balance was monitored daily and remained stable.",
    "A consultation with the social services was offered and accepted.",
    "Prophylaxis against venous thromboembolism was given according to the ward protocol.",
    "The patient was advised to return immediately if the symptoms recur.",
    "The physical examination at discharge was otherwise unremarkable.",
    "Dietary recommendations were handed out in written form.",
    "The vaccination status was reviewed and found to be complete.",
    "At discharge the patient was able to climb stairs without assistance.",
    "Sleep was reported as restful during the last nights of the stay.",
    "There were no signs of delirium during the hospital stay.",
    "The family was informed about the discharge with the patient's consent.",
    "Driving is not recommended until the follow-up visit.",
    "Please do not hesitate to contact us if you have any questions.",
)


def _fmt_date(d: dt.date) -> str:
    return d.strftime("%m/%d/%Y")


def _fmt_num(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def _fmt_dose(dose: float, unit: str, freq: str) -> str:
    return f"{dose:g} {unit} {freq}"


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _lab_value(rng: random.Random, lab: tuple) -> str:
    _, unit, lo, hi, dec = lab
    return f"{_fmt_num(rng.uniform(lo, hi), dec)} {unit}"


def _fill_distractors(answer: str, confusers: list[str], draw: Any, context: str, k: int = 5) -> list[str] | None:
    """Answer + confusers + fresh draws (absent from the context) up to ``k`` options."""
    options = [answer, *confusers]
    for _ in range(200):
        if len(options) == k:
            return options
        cand = draw()
        if cand in context or any(cand in o or o in cand for o in options):
            continue
        options.append(cand)
    return None


def _patient(rng: random.Random) -> dict[str, Any]:
    sex = rng.choice(("female", "male"))
    first = rng.choice(_FIRST_NAMES[sex])
    last = rng.choice(_LAST_NAMES)
    title = "Ms." if sex == "female" else "Mr."
    age = rng.randint(34, 89)
    admission = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(5 * 365))
    stay = rng.randint(4, 12)
    discharge = admission + dt.timedelta(days=stay)
    proc_date = admission + dt.timedelta(days=rng.randint(1, stay - 1))
    dx = rng.choice(_DIAGNOSES)
    history = rng.choice(_HISTORY)
    proc, followup = rng.sample(_PROCEDURES, 2)
    lab1, lab2 = rng.sample(_LABS, 2)
    drug1, drug2 = rng.sample(_DRUGS, 2)
    dose1 = _fmt_dose(rng.choice(drug1[1]), drug1[2], rng.choice(_FREQUENCIES))
    dose2 = _fmt_dose(rng.choice(drug2[1]), drug2[2], rng.choice(_FREQUENCIES))
    vitals = (
        f"Vital signs at discharge: blood pressure {rng.randint(105, 150)}/{rng.randint(60, 92)} mmHg, "
        f"heart rate {rng.randint(58, 96)} beats per minute, temperature {rng.uniform(36.2, 37.4):.1f} C, "
        f"oxygen saturation {rng.randint(93, 99)} percent on room air."
    )
    return {
        "sex": sex,
        "name": f"{first} {last}",
        "title": title,
        "age": age,
        "admission": _fmt_date(admission),
        "discharge": _fmt_date(discharge),
        "admission_date": admission,
        "discharge_date": discharge,
        "proc_date": _fmt_date(proc_date),
        "dx": dx,
        "history": history,
        "proc": proc,
        "followup": followup,
        "lab1": lab1,
        "lab2": lab2,
        "lab1_value": _lab_value(rng, lab1),
        "lab2_value": _lab_value(rng, lab2),
        "drug1": drug1,
        "drug2": drug2,
        "dose1": dose1,
        "dose2": dose2,
        "vitals": vitals,
    }


def _summary(rng: random.Random, p: dict[str, Any]) -> str:
    man_woman = "woman" if p["sex"] == "female" else "man"
    intro = (
        f"Patient: {p['title']} {p['name']}, a {p['age']}-year-old {man_woman}, "
        f"was admitted on {p['admission']} and discharged on {p['discharge']}."
    )
    sections = [
        f"Principal diagnosis: {p['dx']}.",
        f"Past medical history: {p['history']}.",
        f"Laboratory findings: {p['lab1'][0]} {p['lab1_value']}, {p['lab2'][0]} {p['lab2_value']}.",
        f"{_cap(p['proc'])} was performed on {p['proc_date']} without complications.",
        f"Recommended follow-up: {_cap(p['followup'])} in three months.",
        f"Discharge medication: {p['drug1'][0]} {p['dose1']} and {p['drug2'][0]} {p['dose2']}.",
        p["vitals"],
    ]
    base = len(HEADER) + len(intro) + sum(len(s) + 1 for s in sections) + 1
    for filler in rng.sample(_FILLERS, len(_FILLERS)):
        if base >= _MIN_CHARS:
            break
        if base + len(filler) + 1 <= _MAX_CHARS:
            sections.append(filler)
            base += len(filler) + 1
    rng.shuffle(sections)
    return "\n".join([HEADER, intro, *sections])


def _question(qtype: str, p: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The question of type ``qtype``: ``(query, answer, in-record confusers)``."""
    name = f"{p['title']} {p['name']}"
    if qtype == "dose":
        return (
            f"At what dose and frequency was {p['drug1'][0]} prescribed to {name} at discharge?",
            p["dose1"],
            [p["dose2"]],
        )
    if qtype == "lab_value":
        return (f"What {p['lab1'][0]} value was reported for {name}?", p["lab1_value"], [p["lab2_value"]])
    if qtype == "procedure_date":
        return (
            f"On what date did {name} undergo {p['proc']}?",
            p["proc_date"],
            [p["admission"], p["discharge"]],
        )
    if qtype == "diagnosis":
        return (f"What was the principal diagnosis of {name} during this admission?", p["dx"], [p["history"]])
    if qtype == "procedure_on_date":
        return (
            f"Which procedure did {name} undergo on {p['proc_date']}?",
            _cap(p["proc"]),
            [_cap(p["followup"])],
        )
    raise ValueError(f"unknown question type {qtype!r}; use one of {QUESTION_TYPES}")


def _draw_fn(rng: random.Random, qtype: str, p: dict[str, Any]) -> Callable[[], str]:
    """A generator of fresh distractors of the answer's kind."""
    if qtype == "dose":
        _, doses, unit = p["drug1"]
        return lambda: _fmt_dose(rng.choice(doses), unit, rng.choice(_FREQUENCIES))
    if qtype == "lab_value":
        return lambda: _lab_value(rng, p["lab1"])
    if qtype == "procedure_date":
        lo = p["admission_date"] - dt.timedelta(days=20)
        return lambda: _fmt_date(lo + dt.timedelta(days=rng.randrange(50)))
    if qtype == "diagnosis":
        return lambda: rng.choice(_DIAGNOSES)
    return lambda: _cap(rng.choice(_PROCEDURES))


def _answer_position(index: int, n_options: int = 5) -> int:
    """Answer slot of record ``index``: ``(index + index // 5) % 5`` (balanced over types)."""
    return (index + index // len(QUESTION_TYPES)) % n_options


def _record(seed: int, index: int) -> Record:
    rng = random.Random(seed * 1_000_003 + index)
    qtype = QUESTION_TYPES[index % len(QUESTION_TYPES)]
    for _attempt in range(100):
        p = _patient(rng)
        context = _summary(rng, p)
        query, answer, confusers = _question(qtype, p)
        if context.count(answer) != 1 or not all(c in context for c in confusers):
            continue
        if any(c in answer or answer in c for c in confusers):
            continue
        options = _fill_distractors(answer, confusers, _draw_fn(rng, qtype, p), context)
        if options is None:
            continue
        distractors = options[1:]
        rng.shuffle(distractors)
        # Balanced answer position: within every block of 25 records each (type, position) pair
        # occurs once, so "always pick A" scores exactly chance on the full cycle.
        options = distractors[:]
        options.insert(_answer_position(index), answer)
        return Record(
            id=f"synth_s{seed}_{index:04d}",
            context=context,
            query=query,
            answer=answer,
            options=tuple(options),
            task="multiple_choice",
            dataset=DATASET_NAME,
            metadata={
                "question_type": qtype,
                "patient_name": p["name"],
                "confusers": confusers,
                "answer_char_start": context.index(answer),
                "header_chars": len(HEADER),
                "seed": seed,
                "index": index,
                "generator_version": GENERATOR_VERSION,
            },
        )
    raise RuntimeError(f"could not build a valid synthetic record (seed={seed}, index={index})")  # pragma: no cover


def build_synthetic_clinical(n_records: int = DEFAULT_N_RECORDS, seed: int = DEFAULT_SEED) -> list[Record]:
    """Generate the synthetic clinical multiple-choice benchmark.

    Args:
        n_records: Number of records (one question each); question types cycle through
            :data:`QUESTION_TYPES`.
        seed: Integer seed. Same ``(n_records, seed)`` -> byte-identical output everywhere.

    Returns:
        ``n_records`` multiple-choice records with five options each.

    Raises:
        ValueError: If ``n_records`` is negative.
    """
    if n_records < 0:
        raise ValueError(f"n_records must be >= 0, got {n_records}")
    return [_record(int(seed), i) for i in range(n_records)]


def default_synthetic_path() -> Path:
    """Path of the bundled file: ``data/synthetic_clinical.jsonl`` (in a wheel, ``mi_utils/_data/``; see :mod:`mi_utils.paths`)."""
    return bundled_file("synthetic_clinical.jsonl")


def load_synthetic(
    path: str | Path | None = None,
    *,
    n_records: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
) -> list[Record]:
    """Load the synthetic clinical benchmark.

    With no arguments, reads the bundled ``data/synthetic_clinical.jsonl`` (a wheel carries it too); if
    that file is not there, regenerates the same records (32, seed 0) in memory.

    Args:
        path: A JSONL file written by :func:`write_jsonl` / the ``__main__`` of this module.
        n_records: If given (or ``seed`` is), generate this many records instead of reading.
        seed: Seed for generation (default 0).
        limit: Keep only the first ``limit`` records.

    Returns:
        The records.

    Raises:
        DataNotFoundError: If an explicit ``path`` does not exist.
    """
    if n_records is not None or seed is not None:
        records = build_synthetic_clinical(
            DEFAULT_N_RECORDS if n_records is None else n_records, DEFAULT_SEED if seed is None else seed
        )
    elif path is not None:
        records = read_jsonl(path)
    elif default_synthetic_path().is_file():
        records = read_jsonl(default_synthetic_path())
    else:
        records = build_synthetic_clinical(DEFAULT_N_RECORDS, DEFAULT_SEED)
    return records if limit is None else records[:limit]


def shared_question_records(records: list[Record], seed: int = DEFAULT_SEED) -> list[Record]:
    """The shared-question task over ``records``: every record is asked :data:`SHARED_QUERY`.

    The per-record questions of the bundled benchmark name the patient, so the question alone
    says which record it belongs to, and neither the ``shared`` nor the ``paired`` scoring
    conditioning estimates I(X;Z|Q) for a fixed Q. Here Q is one string for all records: the
    estimate is I(X;Z|Q) exactly as the paper writes it, and a summary that keeps only what all
    records share (the zero-information control) has true MI 0.

    Each record keeps its context; the answer is its principal diagnosis (stated verbatim once),
    the options are that diagnosis, the past-history condition (an in-record confuser) and three
    diagnoses that do not occur in the record. The answer slot is ``index % 5`` (balanced).

    Args:
        records: synthetic clinical records (:func:`build_synthetic_clinical`).
        seed: seed of the distractor draws (``Random(seed * 1_000_003 + index + 500_009)``).

    Returns:
        New records with ids ``<id>_dx``, dataset :data:`SHARED_DATASET_NAME`.

    Raises:
        ValueError: a record whose context has no "Principal diagnosis:" line.
    """
    out = []
    for n, rec in enumerate(records):
        index = int(rec.metadata.get("index", n))
        dx = re.search(r"^Principal diagnosis: (.+)\.$", rec.context, flags=re.M)
        hx = re.search(r"^Past medical history: (.+)\.$", rec.context, flags=re.M)
        if dx is None or hx is None:
            raise ValueError(
                f"record {rec.id!r} has no 'Principal diagnosis:' / 'Past medical history:' line; "
                "shared_question_records needs synthetic clinical records"
            )
        answer, confuser = dx.group(1), hx.group(1)
        rng = random.Random(seed * 1_000_003 + index + 500_009)
        options = _fill_distractors(answer, [confuser], functools.partial(rng.choice, _DIAGNOSES), rec.context)
        if options is None:  # pragma: no cover - 16 diagnoses always leave 3 free ones
            raise RuntimeError(f"could not draw distractors for {rec.id!r}")
        distractors = options[1:]
        rng.shuffle(distractors)
        distractors.insert(index % 5, answer)
        meta = {
            **rec.metadata,
            "question_type": "diagnosis_shared",
            "confusers": [confuser],
            "answer_char_start": rec.context.index(answer),
            "source_record": rec.id,
        }
        out.append(
            Record(
                id=f"{rec.id}_dx",
                context=rec.context,
                query=SHARED_QUERY,
                answer=answer,
                options=tuple(distractors),
                task="multiple_choice",
                dataset=SHARED_DATASET_NAME,
                metadata=meta,
            )
        )
    return out


def load_synthetic_shared(
    path: str | Path | None = None, *, n_records: int | None = None, seed: int | None = None, limit: int | None = None
) -> list[Record]:
    """The shared-question task (:func:`shared_question_records`) over :func:`load_synthetic`'s records.

    Arguments as :func:`load_synthetic`.
    """
    base = load_synthetic(path, n_records=n_records, seed=seed, limit=limit)
    return shared_question_records(base, DEFAULT_SEED if seed is None else seed)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m mi_utils.data.synthetic --n 32 --seed 0 --out data/synthetic_clinical.jsonl``."""
    ap = argparse.ArgumentParser(prog="python -m mi_utils.data.synthetic", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N_RECORDS, help="number of records (default 32)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="integer seed (default 0)")
    ap.add_argument("--out", type=Path, default=None, help="output .jsonl (default: stdout)")
    args = ap.parse_args(argv)
    records = build_synthetic_clinical(args.n, args.seed)
    if args.out is None:
        sys.stdout.write(records_to_jsonl(records))
    else:
        write_jsonl(records, args.out)
        print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
