"""What the structure floor tells the floors above it, without importing them.

`demo_loaded` is sent by `manage.py load_demo` once a fresh demo portfolio and last night's
scan are committed, with `today`: the dashboard writes the demo's past snapshots. Receivers
must be idempotent (`load_demo --reset` sends it again).
"""

from django.dispatch import Signal

demo_loaded = Signal()
