"""jmqa: offline, grounded question answering over a folder of documents, with cited sentences."""

from .assistant import Assistant
from .config import Settings
from .errors import BadInputError, CorpusError, IndexCorruptedError, IndexNotFoundError, JmqaError, ModelUnavailableError
from .evaluate import evaluate  # so `jmqa.evaluate(...)` is the function, not the module
from .questions import QAItem
from .scoring import EvalRecord, Report
from .types import Answer, Chunk, Citation, Document, Hit, Turn

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Assistant",
    "BadInputError",
    "Chunk",
    "Citation",
    "CorpusError",
    "Document",
    "EvalRecord",
    "Hit",
    "IndexCorruptedError",
    "IndexNotFoundError",
    "JmqaError",
    "ModelUnavailableError",
    "QAItem",
    "Report",
    "Settings",
    "Turn",
    "evaluate",
]
