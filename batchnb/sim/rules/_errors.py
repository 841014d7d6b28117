"""The one exception the emulator's handlers raise to answer with an API error body."""

from __future__ import annotations

from dataclasses import dataclass, field

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STATUS_MESSAGES = {
    429: "Number of request tokens has exceeded your rate limit (emulated).",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    529: "Overloaded",
}


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


def injected(status: int, *, retry_after: float = 0.0) -> ApiError:
    """An injected failure with the error type the API uses for ``status`` (429s carry ``retry-after``)."""
    error = ApiError(status, _STATUS_TYPES.get(status, "api_error"), _STATUS_MESSAGES.get(status, "Injected error"))
    if status == 429:
        error.headers["retry-after"] = f"{retry_after:g}"
    return error
