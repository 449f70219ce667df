"""A warm interpreter that forks one real CLI process per run.

Each run is still its own process executing ``integration_health.cli.app.main``
with its own argv, environment, working directory, stdout and stderr, and its
exit code; only the second of imports every fresh ``python -m`` pays is paid
once, so that the fault matrix's many runs fit the suite's time budget.

Protocol (one JSON object a line on stdin, one answer a line on stdout):
``{"args", "env", "cwd", "stdout", "stderr", "timeout"}`` -> ``{"code"}``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import signal
import sys
import traceback
from typing import Any

WARM = (
    "sqlalchemy",
    "sqlmodel",
    "httpx",
    "psycopg",
    "tenacity",
    "alembic.command",
    "alembic.runtime.migration",
    "alembic.script",
    "integration_health.cli.app",
)
WARM_PACKAGES = ("integration_health.clients", "integration_health.services")


def warm_up() -> None:
    for name in WARM:
        importlib.import_module(name)
    for package_name in WARM_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{info.name}")


def _child(request: dict[str, Any]) -> None:
    """Become the CLI process for ``request``; never returns."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for source, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(source, target)
        signal.alarm(max(1, int(request["timeout"])))
        from integration_health.cli.app import main

        sys.argv = ["integration-health", *request["args"]]
        main(list(request["args"]))
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # what an uncaught exception does to python -m
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the process ends right here
                stream.flush()
        os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def serve() -> None:
    warm_up()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}))
        sys.stdout.write("\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
