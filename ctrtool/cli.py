"""The typer app: global options, the command groups, and main()."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import __version__
from .commands.images import images
from .commands.info import info
from .commands.layers import layers
from .commands.df import df
from .commands.explain import explain
from .commands.copy import copy
from .commands.translate import CONTEXT_SETTINGS as _TRANSLATE_CONTEXT, translate
from .commands.ps import pods, ps
from .commands.containers import exec_, inspect, kill, logs, rm, start, stop
from .commands.imageops import load, prune, pull, rmi, save, tag

app = typer.Typer(
    name="ctrtool",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings wrap as paragraphs; `code` shows as code
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ctrtool {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option(
        "--config", "-c", metavar="PATH", envvar=None,
        help="ctrtool config file (default: $CTRTOOL_CONFIG, ~/.config/ctrtool/config.yaml, "
             "/etc/ctrtool/config.yaml).")] = None,
    timeout: Annotated[Optional[float], typer.Option(
        "--timeout", "-t", metavar="SECONDS", min=0.1,
        help="Time allowed per backend (default 10; env CTRTOOL_TIMEOUT).")] = None,
    docker_host: Annotated[Optional[str], typer.Option(
        "--docker-host", "-H", metavar="URL", help="docker daemon socket (like DOCKER_HOST).")] = None,
    docker_context: Annotated[Optional[str], typer.Option(
        "--context", metavar="NAME", help="docker CLI context to use (like DOCKER_CONTEXT).")] = None,
    address: Annotated[Optional[str], typer.Option(
        "--address", "-a", metavar="PATH", help="containerd socket for ctr (like CONTAINERD_ADDRESS).")] = None,
    runtime_endpoint: Annotated[Optional[str], typer.Option(
        "--runtime-endpoint", "-r", metavar="URL",
        help="CRI runtime endpoint for crictl (like CONTAINER_RUNTIME_ENDPOINT).")] = None,
    image_endpoint: Annotated[Optional[str], typer.Option(
        "--image-endpoint", "-i", metavar="URL",
        help="CRI image endpoint for crictl (like IMAGE_SERVICE_ENDPOINT).")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print ctrtool's version.")] = False,
) -> None:
    """One CLI over docker, ctr and crictl: every image store, namespace and path on a node.

    Exit status: 0 ok, 1 error, 2 usage or configuration error, 3 partial result (some backends
    failed, the others printed), 130 interrupted.
    """
    from .config import Flags

    ctx.obj = {"flags": Flags(config=config, timeout=timeout, docker_host=docker_host,
                              docker_context=docker_context, containerd_address=address,
                              runtime_endpoint=runtime_endpoint, image_endpoint=image_endpoint)}


app.command("images")(images)
app.command("layers")(layers)
app.command("df")(df)
app.command("explain")(explain)
app.command("info")(info)
app.command("where", help="Alias of `info`.")(info)
app.command("translate", context_settings=_TRANSLATE_CONTEXT)(translate)
app.command("ps")(ps)
app.command("pods")(pods)
app.command("inspect")(inspect)
app.command("logs")(logs)
app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)
app.command("start")(start)
app.command("stop")(stop)
app.command("kill")(kill)
app.command("rm")(rm)
app.command("rmi")(rmi)
app.command("prune")(prune)
app.command("tag")(tag)
app.command("pull")(pull)
app.command("load")(load)
app.command("save")(save)
app.command("copy")(copy)


def _add_lab() -> None:
    from .commands.lab import app as lab_app

    app.add_typer(lab_app, name="lab")


_add_lab()


def main() -> None:
    app(prog_name="ctrtool")


if __name__ == "__main__":
    main()
