from __future__ import annotations

import pytest
from dialogue_support import KeywordRetriever, MeetingRecorder


@pytest.fixture
def retriever() -> KeywordRetriever:
    return KeywordRetriever()


@pytest.fixture
def meetings() -> MeetingRecorder:
    return MeetingRecorder()
