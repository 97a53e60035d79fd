"""jmqa's exceptions: one base class, a few narrow kinds, each message saying what to do next."""


class JmqaError(Exception):
    """Base class for every error jmqa raises on purpose."""


class BadInputError(JmqaError, ValueError):
    """A question, file or parameter that jmqa cannot use as given."""


class CorpusError(JmqaError):
    """The corpus folder is missing, empty or holds no readable document."""


class IndexNotFoundError(JmqaError):
    """No index where one was expected."""


class IndexCorruptedError(JmqaError):
    """An index exists but cannot be read or fails its checks."""


class ModelUnavailableError(JmqaError):
    """A model (embedding or LLM) cannot be found or loaded."""
