"""Document extraction in a separate, limited child process.

Parsing uploads is where hostile input does its damage: a 27 KB ``.docx`` of three million empty
paragraphs, a zip bomb, an XML entity bomb or a PDF whose object graph loops. So the parse never runs in
the server: each document goes to a fresh ``python -m sdr_agent.knowledge.extract_child`` with an
``RLIMIT_CPU`` and ``RLIMIT_AS`` cap, the lowest CPU priority, no inherited secrets, and a wall-clock
deadline after which it is killed. The server side only awaits pipes (no thread of any pool is taken), and at
most ``extract_concurrency`` children run at once, so a flood of uploads waits its turn instead of starving
calls of CPU.

Protocol: the document's bytes on stdin; one JSON object on stdout, ``{"text", "title"}`` or ``{"error"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import weakref
from dataclasses import dataclass

from sdr_agent.knowledge.extract import DocumentFormat, ExtractedText, ExtractionError
from sdr_agent.knowledge.extract_child import (
    TOO_BIG,
    ExtractionLimitError,
    check_zip_container,
    extract_limited,
)

__all__ = [
    "ExtractLimits", "ExtractionLimitError", "check_zip_container", "extract_isolated", "extract_limited",
]


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
        sys.executable, "-I", "-m", "sdr_agent.knowledge.extract_child", fmt.value, *args,
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
        raise ExtractionLimitError(f"{TOO_BIG} (over {limits.timeout_s:g} s)") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0 or output is None:
        # Killed by RLIMIT_CPU (SIGXCPU/SIGKILL) or out of memory before it could answer.
        raise ExtractionLimitError(TOO_BIG)
    try:
        answer = json.loads(output)
    except ValueError:
        raise ExtractionLimitError(TOO_BIG) from None
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
