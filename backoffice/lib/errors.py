"""The domain error type. Interfaces turn it into a 400 (API), a form error (admin) or a
non-zero exit (commands), in one place each."""


class DomainError(Exception):
    """A request the rules refuse. Raising it means nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_field_errors(self) -> dict[str, list[str]]:
        return {self.field or "non_field_errors": [self.message]}


class ConflictError(DomainError):
    """The request contradicts something already recorded (e.g. a reused payment reference)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, code="conflict")
