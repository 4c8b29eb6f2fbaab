"""The SQL store: SQLAlchemy Core schema, repositories, and each engine's bulk fast path."""
