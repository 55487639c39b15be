"""The endpoints measured (no Django import: the orchestrator reads them too)."""

# The Structure request measured. A stand-in view over the same queryset until the Structure
# endpoint exists: point this at "/api/structure/" then (bench/urls.py keeps the stand-in).
STRUCTURE_PATH = "/bench/structure/"
HELLO_PATH = "/bench/hello/"


def structure_url(page: int) -> str:
    """The top participant's overdue clients, page `page`, most urgent first."""
    return f"{STRUCTURE_PATH}?overdue=true&page={page}"
