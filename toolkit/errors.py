"""The one exception hierarchy: every message says what to fix and names the file, layer or option."""
from __future__ import annotations


class EdgecnnError(Exception):
    """Base of every error edgecnn raises on purpose; the CLI prints it as one line and exits non-zero."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(EdgecnnError):
    """A flag, option or config-file key is wrong."""


class DatasetError(EdgecnnError):
    """A data set is unknown, missing or malformed."""


class ModelError(EdgecnnError):
    """A model is unknown, cannot be built, trained, quantized or converted."""


class ModelFileError(ModelError):
    """A model file (.keras, .tflite, .onnx) is missing, truncated or malformed."""


class UnsupportedOpError(ModelError):
    """A model uses an operator that a stage (code generation, a target) does not support."""


class InputError(EdgecnnError):
    """An input to classify (image, .npy) is missing, unreadable or does not fit the model."""


class OutputError(EdgecnnError):
    """The output folder cannot be written."""


class ToolchainError(EdgecnnError):
    """A compiler, emulator or other external tool is missing or failed."""


class DeviceTimeoutError(ToolchainError):
    """An emulated or real device did not finish or answer within its time limit."""


class VerificationError(EdgecnnError):
    """The device did not give the same answers as the reference."""

    exit_code = 3
