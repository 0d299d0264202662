"""`pydocker compose`: compose files run client-side against the Engine API, as Docker Compose does."""
