"""The classic (`POST /build`, version 1) builder.

Modules: `dockerfile` (parser and instructions), `shell_lex` (word expansion), `dockerignore`,
`context` (the build context tar, checksums, COPY/ADD sources), `plan` (steps, build args, cache
keys, config mutations), `copier` (COPY/ADD into a root filesystem), `driver` (the build loop and
its output, over a backend the daemon implements).

The `/build` endpoint, in short:

    options, dockerfile = driver.options_from_query(request.query)
    ctx = context.read_context(body_stream, dockerfile)   # 400 on DockerfileError
    try:
        image_id = await driver.BuildDriver(ctx, backend, output, options).build()
    except BuildError as e:                                # in-band once output has started
        write(driver.json_error(e.message, e.code))
    finally:
        ctx.cleanup()
"""
