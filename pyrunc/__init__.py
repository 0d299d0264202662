"""pyrunc: an OCI runtime with runc's command-line contract."""
VERSION = "0.1.0"
SPEC_VERSION = "1.0.2-dev"
