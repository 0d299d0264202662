"""pydocker: a Docker-compatible command-line client that speaks the Engine API.

Layout: `main` (global flags, command tables, dispatch, exit codes), `flags` (pflag-like parser and
usage errors), `client` (HTTP/1.1 over unix/tcp(+TLS) sockets, version negotiation, hijack),
`streams`/`tty` (stdcopy, attach pumping, raw mode, detach keys), `formatter` (tabwriter and the Go
template subset), `progress` (JSON message streams), `commands/<group>` (one module per command
group), `compose/` (compose files run client-side). Stdlib only, imports deferred per command.
"""
