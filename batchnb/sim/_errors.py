"""The one exception the emulator's handlers raise to answer with an API error body."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiError(Exception):
    """An HTTP error answer: ``{"type": "error", "error": {"type": error_type, "message": message}}``."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.message}"


def invalid(message: str) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, "invalid_request_error", message)


def not_found(message: str) -> ApiError:
    """A 404 ``not_found_error``."""
    return ApiError(404, "not_found_error", message)
