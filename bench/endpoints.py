"""The endpoints measured (no Django import: the orchestrator reads them too)."""

# The Structure request measured: the product's endpoint, as the top participant sees it.
STRUCTURE_PATH = "/api/structure/"
HELLO_PATH = "/bench/hello/"


def structure_url(page: int) -> str:
    """The top participant's overdue clients, page `page`, most urgent first."""
    return f"{STRUCTURE_PATH}?overdue=true&page={page}"
