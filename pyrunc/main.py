"""pyrunc entry point: a small hand-written argv parser (runc's flags) and lazy dispatch.

No argparse/logging on purpose: every import here is paid on each of the shim's calls.
"""
from __future__ import annotations

import os
import sys

from . import runlog
from .errors import RuncError

# Per subcommand: flag -> (destination, takes_value). Values of repeatable flags become lists.
_B, _V, _M = 0, 1, 2  # bool, value, multi-value
_CREATE = {"bundle": _V, "b": "bundle", "console-socket": _V, "pid-file": _V, "no-pivot": _B,
           "no-new-keyring": _B, "preserve-fds": _V, "detach": _B, "d": "detach"}
_FLAGS: dict[str, dict] = {
    "create": _CREATE,
    "run": dict(_CREATE, keep=_B),
    "start": {}, "state": {}, "pause": {}, "resume": {}, "features": {},
    "kill": {"all": _B, "a": "all"},
    "delete": {"force": _B, "f": "force"},
    "list": {"format": _V, "f": "format", "quiet": _B, "q": "quiet"},
    "ps": {"format": _V, "f": "format"},
    "exec": {"process": _V, "p": "process", "detach": _B, "d": "detach", "pid-file": _V,
             "console-socket": _V, "tty": _B, "t": "tty", "env": _M, "e": "env", "cwd": _V,
             "user": _V, "u": "user", "additional-gids": _M, "g": "additional-gids",
             "cap": _M, "c": "cap", "no-new-privs": _B, "preserve-fds": _V, "cgroup": _M,
             "ignore-paused": _B, "apparmor": _V, "process-label": _V},
    "update": {"resources": _V, "r": "resources", "memory": _V, "memory-swap": _V,
               "memory-reservation": _V, "kernel-memory": _V, "kernel-memory-tcp": _V,
               "cpu-share": _V, "cpu-shares": "cpu-share", "cpu-quota": _V, "cpu-period": _V,
               "cpu-rt-period": _V, "cpu-rt-runtime": _V, "cpuset-cpus": _V, "cpuset-mems": _V, "pids-limit": _V,
               "blkio-weight": _V, "l3-cache-schema": _V, "mem-bw-schema": _V},
    "spec": {"bundle": _V, "b": "bundle", "rootless": _B},
    "events": {"interval": _V, "stats": _B},
    "serve": {"fd": _V, "once": _B},
    # runc's CRIU flags, accepted so that the refusal names the real reason
    "checkpoint": {"image-path": _V, "work-path": _V, "parent-path": _V, "leave-running": _B,
                   "tcp-established": _B, "ext-unix-sk": _B, "shell-job": _B, "lazy-pages": _B,
                   "status-fd": _V, "page-server": _V, "file-locks": _B, "pre-dump": _B,
                   "manage-cgroups-mode": _V, "empty-ns": _M, "auto-dedup": _B},
    "restore": {"console-socket": _V, "image-path": _V, "work-path": _V,
                "tcp-established": _B, "ext-unix-sk": _B, "shell-job": _B, "file-locks": _B,
                "manage-cgroups-mode": _V, "bundle": _V, "b": "bundle", "detach": _B,
                "d": "detach", "pid-file": _V, "no-subreaper": _B, "no-pivot": _B,
                "empty-ns": _M, "auto-dedup": _B, "lazy-pages": _B, "lsm-profile": _V,
                "lsm-mount-context": _V},
}
_GLOBAL = {"root": _V, "log": _V, "log-format": _V, "systemd-cgroup": _B, "debug": _B,
           "criu": _V, "rootless": _V}

_ABOUT = {
    "checkpoint": "checkpoint a running container (not supported by pyrunc)",
    "create": "create a container", "delete": "delete any resources held by the container",
    "events": "display container events such as OOM notifications, cpu, memory, and IO usage "
              "statistics",
    "exec": "execute new process inside the container", "features": "show the enabled features",
    "kill": "kill sends the specified signal (default: SIGTERM) to the container's init process",
    "list": "lists containers started by runc with the given root",
    "pause": "pause suspends all processes inside the container",
    "ps": "ps displays the processes running inside a container",
    "restore": "restore a container from a previous checkpoint (not supported by pyrunc)",
    "resume": "resumes all processes that have been previously paused",
    "run": "create and run a container",
    "serve": "run start/kill/delete/state/... commands sent over an inherited unix socket (pyrunc only)",
    "spec": "create a new specification file",
    "start": "executes the user defined process in a created container",
    "state": "output the state of a container", "update": "update container resource constraints",
}


def _command_help(cmd: str) -> None:
    flags = ", ".join(("-" if len(f) == 1 else "--") + f for f in _FLAGS.get(cmd, {}))
    sys.stdout.write(f"NAME:\n   runc {cmd} - {_ABOUT.get(cmd, '')}\n\nUSAGE:\n"
                     f"   runc {cmd} [command options] <container-id>\n\n"
                     f"OPTIONS:\n   {flags}\n")


USAGE = """NAME:
   pyrunc - Open Container Initiative runtime (Python)

USAGE:
   pyrunc [global options] command [command options] [arguments...]

COMMANDS:
   create, delete, events, exec, features, kill, list, pause, ps, resume, run, serve, spec,
   start, state, update

GLOBAL OPTIONS:
   --debug, --log value, --log-format value, --root value (default: "/run/pyrunc"),
   --systemd-cgroup, --version, -v
"""


def parse_flags(args: list[str], spec: dict, where: str = "",
                interleaved: bool = False) -> tuple[dict, list[str]]:
    """Parse Go-style flags (``-f``, ``--flag``, ``--flag=v``, ``--flag v``); return
    (options, positional args). Parsing stops at the first positional argument, unless
    ``interleaved``: then flags may also follow positionals (urfave/cli v1 reorders the
    arguments of every runc subcommand but ``exec``); ``--`` always ends the flags."""
    opts: dict = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            if interleaved:
                positional.append(a)
                i += 1
                continue
            break
        name, eq, val = a.lstrip("-").partition("=")
        kind = spec.get(name)
        if isinstance(kind, str):
            name, kind = kind, spec[kind]
        if kind is None:
            raise RuncError(f"flag provided but not defined: -{name}")
        if kind == _B:
            opts[name] = (val.lower() in ("1", "true", "t")) if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(args):
                    raise RuncError(f"flag needs an argument: -{name}")
                val = args[i]
            if kind == _M:
                opts.setdefault(name, []).append(val)
            else:
                opts[name] = val
        i += 1
    return opts, positional + args[i:]


def _version() -> None:
    from . import SPEC_VERSION, VERSION
    sys.stdout.write(f"runc version {VERSION} (pyrunc)\ncommit: pyrunc\nspec: {SPEC_VERSION}\n"
                     f"go: python{sys.version.split()[0]}\nlibseccomp: 2.5.4\n")


def main(argv: list[str] | None = None, fast_exit: bool = False) -> None:
    """Run one command and exit. ``fast_exit`` (the launcher) ends with ``os._exit`` once
    stdout/stderr are flushed: the interpreter's teardown (module and GC cleanup) costs
    ~1.5 ms per call and there is nothing left to clean up (files are closed with ``with``,
    the log is written unbuffered, no atexit handlers, no threads)."""
    argv = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        gopts, rest = parse_flags(argv, dict(_GLOBAL, version=_B, v="version", help=_B,
                                             h="help"), "")
        runlog.setup(gopts.get("log"), gopts.get("log-format", "text"), gopts.get("debug", False))
        fmt = gopts.get("log-format", "text")
        if fmt not in ("text", "json"):
            raise RuncError(f"invalid log-format: {fmt}")
        if gopts.get("version"):
            _version()
            return
        if not rest or gopts.get("help"):
            sys.stdout.write(USAGE)
            return
        cmd, args = rest[0], rest[1:]
        if cmd in _ABOUT and any(a in ("-h", "--help") for a in
                                 (args if cmd != "exec" else args[:1])):
            _command_help(cmd)
            return
        if cmd in ("help", "h"):
            if args and args[0] in _ABOUT:
                _command_help(args[0])
            elif args:
                raise RuncError(f"No help topic for '{args[0]}'\n", 3)
            else:
                sys.stdout.write(USAGE)
            return
        if cmd not in _FLAGS:
            # urfave/cli's text, its trailing newline included; exit status 3, as runc
            raise RuncError(f"No help topic for '{cmd}'\n", 3)
        # exec and ps pass what follows the id on (runc sets SkipArgReorder for them)
        opts, pos = parse_flags(args, _FLAGS[cmd], cmd, interleaved=cmd not in ("exec", "ps"))
        opts["root"] = gopts.get("root", "/run/pyrunc")
        opts["systemd-cgroup"] = gopts.get("systemd-cgroup", False)
        from . import commands
        code = getattr(commands, "cmd_" + cmd)(opts, pos) or 0
    except RuncError as e:
        runlog.error(e.msg)
        code = e.code
    except OSError as e:
        from .errors import oserror_text
        runlog.error(f"{oserror_text(e)}: {e.filename}" if e.filename else oserror_text(e))
        code = 255 if "exec" in argv else 1
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # noqa: BLE001 - a malformed config must still reach --log
        if os.environ.get("PYRUNC_TRACEBACK"):
            import traceback
            traceback.print_exc()
        runlog.error(f"{type(e).__name__}: {e}")
        code = 255 if "exec" in argv else 1
    if not fast_exit:
        sys.stdout.flush()
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
