"""Knowledge-base retrieval on this machine: 10k generated chunks, top-3 latency incl. embedding, recall@3.

Run: ``.venv/bin/python bench/rag.py [--products N] [--questions N]``. Builds a fresh embedded Chroma in a
temp folder, ingests generated product fact sheets (one chunk per product attribute), then asks paraphrased
questions about random products: once with every document attached to the agent, once with 5 documents
attached (the usual per-agent filter). Prints a table, then one JSON line, and writes bench/results/rag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sdr_agent.knowledge.chroma_client import open_chroma
from sdr_agent.knowledge.embedder import shared_embedder
from sdr_agent.knowledge.store import KnowledgeStore, chunk_id

RESULTS = Path(__file__).resolve().parent / "results" / "rag.json"
PRODUCTS_PER_DOCUMENT = 10
SEED = 20240611

_SYLLABLES = ["zen", "tor", "vax", "lum", "qui", "mar", "dro", "pex", "sol", "kin",
              "bra", "fel", "nox", "ori", "tal", "cyr", "ven", "gal", "hex", "ard"]

# attribute: (heading, fact template, question templates). {p} is the product, {v} the value.
ATTRIBUTES: dict[str, tuple[str, str, list[str]]] = {
    "price": ("Price", "The {p} costs {v} dollars per month per seat, billed annually.",
              ["How much does the {p} cost?", "What is the monthly price of {p}?"]),
    "warranty": ("Warranty", "Every {p} comes with a {v}-year warranty that covers parts and repairs.",
                 ["How long is the guarantee on the {p}?", "What coverage do I get if my {p} breaks?"]),
    "shipping": ("Shipping", "Orders of the {p} ship within {v} business days from our warehouse.",
                 ["How fast will my {p} be delivered?", "When does the {p} arrive after I order?"]),
    "battery": ("Battery", "The {p} battery lasts about {v} hours on a full charge.",
                ["How long can the {p} run before recharging?", "What is the battery life of {p}?"]),
    "support": ("Support", "Customers of the {p} can reach support by phone {v} hours a day.",
                ["Can I call someone for help with the {p}?", "When is help available for {p} owners?"]),
    "weight": ("Weight", "The {p} weighs {v} kilograms, so it is easy to carry.",
               ["How heavy is the {p}?", "Is the {p} light enough to take along?"]),
    "trial": ("Free trial", "New customers can try the {p} free for {v} days without a credit card.",
              ["Can I test the {p} before paying?", "Is there a trial period for {p}?"]),
    "security": ("Security", "Data stored by the {p} is encrypted and audited every {v} months.",
                 ["Is my data safe with the {p}?", "How does {p} protect information?"]),
    "integrations": ("Integrations", "The {p} connects to {v} business tools, like Slack and Salesforce.",
                     ["Does the {p} work with Slack?", "What apps can the {p} plug into?"]),
    "refunds": ("Refunds", "If you cancel the {p} within {v} days you get your money back.",
                ["Can I get a refund for the {p}?", "What happens if I return my {p}?"]),
}


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    answer_id: str
    document_id: str


def product_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add(("".join(rng.choice(_SYLLABLES) for _ in range(2))).capitalize() + f" {rng.randint(2, 99)}")
    return sorted(names)


def build_corpus(products: int, questions: int, rng: random.Random) -> tuple[dict[str, str], list[Question]]:
    """Documents (id → markdown) and questions whose answer is one chunk id."""
    names = product_names(products, rng)
    documents: dict[str, str] = {}
    answers: list[tuple[str, str, str]] = []  # (product, attribute, chunk id)
    for start in range(0, len(names), PRODUCTS_PER_DOCUMENT):
        doc_id = f"doc_bench{start // PRODUCTS_PER_DOCUMENT:05d}"
        lines: list[str] = []
        index = 0
        for product in names[start:start + PRODUCTS_PER_DOCUMENT]:
            lines.append(f"# {product}")
            for attribute, (heading, fact, _) in ATTRIBUTES.items():
                lines += [f"## {heading}", fact.format(p=product, v=rng.randint(2, 48)), ""]
                answers.append((product, attribute, chunk_id(doc_id, index)))
                index += 1
        documents[doc_id] = "\n".join(lines)
    asked = [rng.choice(answers) for _ in range(questions)]
    return documents, [
        Question(rng.choice(ATTRIBUTES[attr][2]).format(p=product), cid, cid.split("#", 1)[0])
        for product, attr, cid in asked
    ]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_queries(
    store: KnowledgeStore,
    questions: list[Question],
    all_docs: list[str],
    attached_count: int,
    rng: random.Random,
) -> dict[str, Any]:
    """Each question is asked by an agent attaching ``attached_count`` documents, the answer's among them."""
    latencies: list[float] = []
    hits = top1 = 0
    # The first query of a document set also copies its vectors out of Chroma (reported on its own).
    for question in questions:
        others = [d for d in all_docs if d != question.document_id]
        attached = [question.document_id, *rng.sample(others, min(len(others), attached_count - 1))]
        started = time.perf_counter()
        passages = await store.query(question.text, attached, k=3)
        latencies.append((time.perf_counter() - started) * 1000)
        ids = [p.source_id for p in passages]
        hits += question.answer_id in ids
        top1 += bool(ids) and ids[0] == question.answer_id
    first, steady = latencies[0], latencies[1:] or latencies
    return {
        "attached_documents": min(len(all_docs), attached_count),
        "first_query_ms": round(first, 2),
        "top3_ms_p50": round(statistics.median(steady), 2),
        "top3_ms_p95": round(percentile(steady, 0.95), 2),
        "recall_at_3": round(hits / len(questions), 3),
        "top1_accuracy": round(top1 / len(questions), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1000, help="10 chunks each (1000 → 10k chunks)")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(SEED)
    documents, questions = build_corpus(args.products, args.questions, rng)

    embedder = shared_embedder()
    started = time.perf_counter()
    embedder.warm_up()
    load_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as folder:
        store = KnowledgeStore(lambda: open_chroma(None, Path(folder)), embedder, collection_name="rag_bench")
        started = time.perf_counter()
        chunks = 0
        for number, (doc_id, text) in enumerate(documents.items(), 1):
            chunks += store.add_document_sync(doc_id, doc_id, "bench", text)
            if number % 10 == 0 or number == len(documents):
                progress = f"\ringested {chunks} chunks ({number}/{len(documents)} documents)"
                print(progress, end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        ingest_s = time.perf_counter() - started
        single: list[float] = []
        for question in questions:
            t0 = time.perf_counter()
            embedder.embed([question.text])
            single.append((time.perf_counter() - t0) * 1000)
        doc_ids = list(documents)
        all_docs = asyncio.run(run_queries(store, questions, doc_ids, len(doc_ids), rng))
        five_docs = asyncio.run(run_queries(store, questions, doc_ids, 5, rng))

    report = {
        "bench": "rag",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "model": embedder.name,
        "chunks": chunks,
        "documents": len(documents),
        "questions": len(questions),
        "model_load_s": round(load_s, 2),
        "ingest_s": round(ingest_s, 1),
        "ingest_chunks_per_s": round(chunks / ingest_s, 1),
        "embed_question_ms_p50": round(statistics.median(single), 2),
        "embed_question_ms_p95": round(percentile(single, 0.95), 2),
        "agent_attaches_all_documents": all_docs,
        "agent_attaches_5_documents": five_docs,
    }
    rows = [
        ("chunks / documents", f"{chunks} / {len(documents)}"),
        ("ingest (chunk + embed + store)", f"{ingest_s:.1f} s ({chunks / ingest_s:.0f} chunks/s)"),
        ("embed one question p50 / p95",
         f"{report['embed_question_ms_p50']} / {report['embed_question_ms_p95']} ms"),
    ]
    for label, numbers in (("all documents", all_docs), ("5 documents", five_docs)):
        rows.append((f"top-3 incl. embedding, {label} p50 / p95",
                     f"{numbers['top3_ms_p50']} / {numbers['top3_ms_p95']} ms "
                     f"(first query {numbers['first_query_ms']} ms)"))
        rows.append((f"recall@3 / top-1, {label}", f"{numbers['recall_at_3']} / {numbers['top1_accuracy']}"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(json.dumps(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
