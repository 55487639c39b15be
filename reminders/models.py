# The reminder outbox, cadence and channels live here (see the nightly-scan issue).
