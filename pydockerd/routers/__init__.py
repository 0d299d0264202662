"""One router per resource (moby's api/server/router/<resource>): parse HTTP, call the backend."""
