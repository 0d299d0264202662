"""The classic (`POST /build`, version 1) builder: Dockerfile front end, context handling, planning.

Modules: `dockerfile` (parser and instructions), `shell_lex` (word expansion), `dockerignore`,
`context` (the build context tar, checksums, COPY/ADD sources), `plan` (steps, cache keys, config
mutations). Everything here is pure logic; the build endpoint runs the steps.
"""
