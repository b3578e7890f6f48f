"""The child side of document extraction (``python -m sdr_agent.knowledge.extract_child FORMAT ...``): it
lowers its own priority and sets its CPU, memory and file limits before it imports any parser, reads the
document from stdin and writes one JSON object to stdout. Kept free of asyncio and the server's modules so
the part of its start-up that runs before ``nice`` is as short as possible."""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile

from sdr_agent.knowledge.extract import DocumentFormat, ExtractedText, ExtractionError

TOO_BIG = "the document is too large or too complex to read"


class ExtractionLimitError(ExtractionError):
    """The document needed more time, memory or output than its limits allow."""


def _apply_limits(cpu_s: int, memory_mb: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it reads a pipe and writes a pipe, never a file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(19)  # calls' audio always wins the CPU


def check_zip_container(data: bytes, max_unzipped_bytes: int) -> None:
    """Refuse zip bombs before anything decompresses: the sizes the archive declares, member count, and
    names that try to leave the archive (``../``, absolute paths)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError(f"could not read the .docx file: {exc}") from exc
    if len(members) > 10_000:
        raise ExtractionLimitError(f"{TOO_BIG} (too many parts)")
    total = 0
    for member in members:
        name = member.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise ExtractionError("the .docx file holds a part with an unsafe path")
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > 1000:
            raise ExtractionLimitError(f"{TOO_BIG} (compression ratio)")
    if total > max_unzipped_bytes:
        raise ExtractionLimitError(f"{TOO_BIG} (over {max_unzipped_bytes // (1024 * 1024)} MiB unpacked)")


def extract_limited(
    data: bytes, fmt: DocumentFormat, max_chars: int, max_unzipped_bytes: int
) -> ExtractedText:
    """What the child does; importable so the checks can be tested without a process."""
    from sdr_agent.knowledge.extract import extract_text

    if fmt is DocumentFormat.DOCX:
        check_zip_container(data, max_unzipped_bytes)
    try:
        result = extract_text(data, fmt)
    except ExtractionError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ExtractionLimitError(TOO_BIG) from exc
    except Exception as exc:  # lxml's XMLSyntaxError (malformed XML, huge text node, entity loops) and kin
        raise ExtractionError(f"could not read the document: {type(exc).__name__}") from exc
    if len(result.text) > max_chars:
        raise ExtractionLimitError(f"{TOO_BIG} (over {max_chars} characters of text)")
    return result


def main(argv: list[str]) -> int:
    fmt_name, cpu_s, memory_mb, max_chars, max_unzipped = argv
    _apply_limits(int(cpu_s), int(memory_mb))
    data = sys.stdin.buffer.read()
    try:
        result = extract_limited(data, DocumentFormat(fmt_name), int(max_chars), int(max_unzipped))
        answer: dict[str, str] = {"text": result.text, "title": result.title}
    except ExtractionError as exc:
        answer = {"error": str(exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
