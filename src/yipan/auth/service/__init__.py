"""Auth use cases, one module per area; each function runs inside the caller's transaction."""
