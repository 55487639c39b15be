"""The endpoints measured (no Django import: the orchestrator reads them too)."""

# The Structure request measured: the product's endpoint, as the top participant sees it.
STRUCTURE_PATH = "/api/structure/"
HELLO_PATH = "/bench/hello/"
# The dashboard measured: the API's figures of the top participant's structure (the page
# renders the same figures, plus its charts' data and the trend).
DASHBOARD_PATH = "/api/dashboard/"


def structure_url(page: int) -> str:
    """The top participant's overdue clients, page `page`, most urgent first."""
    return f"{STRUCTURE_PATH}?overdue=true&page={page}"
