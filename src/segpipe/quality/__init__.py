"""Data-quality gates built on Great Expectations (imported lazily)."""
