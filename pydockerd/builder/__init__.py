"""The classic (`POST /build`, version 1) builder.

Modules: `dockerfile` (parser and instructions), `shell_lex` (word expansion), `dockerignore`,
`context` (the build context tar, checksums, COPY/ADD sources), `plan` (steps, build args, cache
keys, config mutations), `copier` (COPY/ADD into a root filesystem), `driver` (the build loop and
its output, over a backend the daemon implements).

The `/build` endpoint, in short:

    options, dockerfile = driver.options_from_query(request.query)
    ctx = await driver.read_context_async(request.content.iter_chunked(1 << 16), dockerfile)
    # (DockerfileError here, before any output: answer 400 with its message)
    try:
        image_id = await driver.BuildDriver(ctx, backend, output, options).build()
    except BuildError as e:                                # in-band once output has started
        write(driver.json_error(e.message, e.code))
    finally:
        ctx.cleanup()
"""
