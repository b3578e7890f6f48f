"""Document extraction in a separate, limited child process.

Parsing uploads is where hostile input does its damage: a 27 KB ``.docx`` of three million empty
paragraphs, a zip bomb, an XML entity bomb or a PDF whose object graph loops. So the parse never runs in
the server: each document goes to a fresh ``python -m sdr_agent.knowledge.extract_worker`` with an
``RLIMIT_CPU`` and ``RLIMIT_AS`` cap, the lowest CPU priority, no inherited secrets, and a wall-clock
deadline after which it is killed. The server side only awaits pipes (no thread of any pool is taken), and at
most ``extract_concurrency`` children run at once, so a flood of uploads waits its turn instead of starving
calls of CPU.

Protocol: the document's bytes on stdin; one JSON object on stdout, ``{"text", "title"}`` or ``{"error"}``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import weakref
import zipfile
from dataclasses import dataclass

from sdr_agent.knowledge.extract import DocumentFormat, ExtractedText, ExtractionError


class ExtractionLimitError(ExtractionError):
    """The document needed more time, memory or output than its limits allow."""


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    cpu_s: int = 20
    memory_mb: int = 1024
    timeout_s: float = 60.0
    max_chars: int = 5_000_000
    max_unzipped_bytes: int = 200 * 1024 * 1024
    concurrency: int = 2


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
# The child needs nothing of the server's environment (API keys, database URLs, secret keys).
_ENV_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")
_TOO_BIG = "the document is too large or too complex to read"


def _slot(concurrency: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = asyncio.Semaphore(max(1, concurrency))
        _slots[loop] = slot
    return slot


async def extract_isolated(data: bytes, fmt: DocumentFormat, limits: ExtractLimits) -> ExtractedText:
    """Extract in a limited child process. Raises ExtractionError (ExtractionLimitError on an overrun)."""
    async with _slot(limits.concurrency):
        return await _run_child(data, fmt, limits)


async def _run_child(data: bytes, fmt: DocumentFormat, limits: ExtractLimits) -> ExtractedText:
    args = [str(limits.cpu_s), str(limits.memory_mb), str(limits.max_chars), str(limits.max_unzipped_bytes)]
    env = {key: os.environ[key] for key in _ENV_KEPT if key in os.environ}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-m", "sdr_agent.knowledge.extract_worker", fmt.value, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    # JSON escapes can at most sextuple the text; anything longer is a child gone wrong.
    output_cap = limits.max_chars * 6 + 65536
    try:
        async with asyncio.timeout(limits.timeout_s):
            output = await _exchange(process, data, output_cap)
            await process.wait()
    except TimeoutError:
        raise ExtractionLimitError(f"{_TOO_BIG} (over {limits.timeout_s:g} s)") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0 or output is None:
        # Killed by RLIMIT_CPU (SIGXCPU/SIGKILL) or out of memory before it could answer.
        raise ExtractionLimitError(_TOO_BIG)
    try:
        answer = json.loads(output)
    except ValueError:
        raise ExtractionLimitError(_TOO_BIG) from None
    if "error" in answer:
        raise ExtractionError(str(answer["error"]))
    return ExtractedText(str(answer.get("text", "")), str(answer.get("title", "")))


async def _exchange(process: asyncio.subprocess.Process, data: bytes, cap: int) -> bytes | None:
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def feed() -> None:
        try:
            stdin.write(data)
            await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child died early (a limit); its exit status tells

    writer = asyncio.create_task(feed())
    received = bytearray()
    try:
        while chunk := await stdout.read(65536):
            received.extend(chunk)
            if len(received) > cap:
                return None
    finally:
        await writer
    return bytes(received)


# ---------------------------------------------------------------------------------------------- child side
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
        raise ExtractionLimitError(f"{_TOO_BIG} (too many parts)")
    total = 0
    for member in members:
        name = member.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise ExtractionError("the .docx file holds a part with an unsafe path")
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > 1000:
            raise ExtractionLimitError(f"{_TOO_BIG} (compression ratio)")
    if total > max_unzipped_bytes:
        raise ExtractionLimitError(f"{_TOO_BIG} (over {max_unzipped_bytes // (1024 * 1024)} MiB unpacked)")


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
        raise ExtractionLimitError(_TOO_BIG) from exc
    except Exception as exc:  # lxml's XMLSyntaxError (malformed XML, huge text node, entity loops) and kin
        raise ExtractionError(f"could not read the document: {type(exc).__name__}") from exc
    if len(result.text) > max_chars:
        raise ExtractionLimitError(f"{_TOO_BIG} (over {max_chars} characters of text)")
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
