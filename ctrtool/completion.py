"""Shell completion (bash, zsh, fish): commands and options from the CLI itself, backends from the
descriptors, and namespaces, image and container names from one listing each.

The shells call ctrtool back with ``_CTRTOOL_COMPLETE`` set (click's protocol, through typer); the
scripts come from ``ctrtool completion SHELL``. A completion never prints an error and never waits
long: it uses the global options already typed on the line (``-H``, ``-a``, ``-r``, ``--config``),
the ``--backend`` and ``--namespace`` given to the command, and a short timeout; anything that fails
gives no candidates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import typer

COMPLETE_VAR = "_CTRTOOL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 1.0  # seconds per backend while the user waits at the prompt: a hung one gives up then

# bash: typer's script assigned `COMPREPLY=( $(...) )`, which expands a candidate as a glob (and
# split a word at ':' as bash does, so `--from ctr:de` or `demo:1` completed wrongly). This one
# takes each line as one candidate, passes the line up to the cursor whole (ctrtool splits it), and
# gives bash only what follows the last ':' of the word, which is what bash replaces. No
# bash-completion package is needed.
BASH_SCRIPT = r"""_ctrtool_completion() {
    local line=${COMP_LINE:0:COMP_POINT} cur="" candidate
    local -a words
    read -r -a words <<< "$line"
    local cword=${#words[@]}
    if [[ -n $line && $line != *[[:space:]] ]]; then
        cword=$((cword - 1))
        cur=${words[cword]}
    fi
    local colon_prefix=""
    [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && colon_prefix=${cur%"${cur##*:}"}
    COMPREPLY=()
    while IFS= read -r candidate; do
        [[ -n $candidate ]] && COMPREPLY+=("${candidate#"$colon_prefix"}")
    done < <(COMP_WORDS="$line" COMP_CWORD="$cword" _CTRTOOL_COMPLETE=complete_bash "$1" 2>/dev/null)
    return 0
}

complete -o default -F _ctrtool_completion ctrtool
"""


# fish: typer's script asked ctrtool twice per Tab, once in `--condition` (are there candidates? if
# not, fish's own file completion applies) and once for the candidates. fish evaluates no condition
# while it computes an autosuggestion (it runs no command then), so the condition counted as false
# and fish suggested the files of the current directory as you typed (`ctrtool stop globb` showed
# `globbox-a` before the Tab's answer came). This one asks once, never lets fish add files on its
# own (`--no-files`, no condition), and offers paths only when ctrtool has no candidate, as bash's
# `-o default` does. fish inserts a candidate escaped (`globbox\*`): never expanded.
FISH_SCRIPT = """function __ctrtool_complete
    set -l candidates (env _CTRTOOL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) ctrtool 2>/dev/null)
    if set -q candidates[1]
        printf '%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end

complete --command ctrtool --no-files --arguments '(__ctrtool_complete)'
"""


def script(shell: str) -> str:
    """The script that makes ``shell`` complete ctrtool (``source <(ctrtool completion bash)``)."""
    from typer.completion import completion_init, get_completion_script

    if shell == "bash":
        return BASH_SCRIPT
    if shell == "fish":
        return FISH_SCRIPT
    completion_init()
    return get_completion_script(prog_name="ctrtool", complete_var=COMPLETE_VAR, shell=shell)


def requested() -> bool:
    """Whether this run answers a shell's completion request."""
    return bool(os.environ.get(COMPLETE_VAR))


def prepare() -> None:
    """Register the shells' completion classes (only on a completion request: start-up stays lean)."""
    from typer.completion import completion_init

    completion_init()
    unwrapped_help()


def unwrapped_help() -> None:
    """zsh and fish show each candidate's help on its line: typer renders it with rich at the
    terminal's width, and a help longer than that came out with a newline inside, which the shell
    read as a second candidate (the help's end). Rendered on one line, whatever the width. rich's
    renderer is loaded only for a help to render (a name or an image has none): it costs 0.1 s."""
    from typer import _completion_classes as classes

    sanitize = classes._sanitize_help_text
    if getattr(sanitize, "unwrapped", False):
        return

    def unwrapped(text: str) -> str:
        from typer import rich_utils

        rich_utils.MAX_WIDTH = 1_000_000
        return sanitize(text)

    unwrapped.unwrapped = True  # type: ignore[attr-defined]
    classes._sanitize_help_text = unwrapped


def deadline() -> float:
    """Seconds per backend at a Tab: TIMEOUT, or CTRTOOL_COMPLETION_TIMEOUT (0.1 to 30) for a node
    whose tools answer slowly; anything else there is ignored (a Tab never fails on it)."""
    import os

    try:
        value = float(os.environ.get("CTRTOOL_COMPLETION_TIMEOUT", TIMEOUT))
    except ValueError:
        return TIMEOUT
    return value if 0.1 <= value <= 30 else TIMEOUT


def _settings(ctx: Any):
    """Settings from the global options on the command line so far, with a short timeout."""
    from .config import Flags, load

    root = ctx.find_root().params if ctx is not None else {}
    flags = Flags(
        config=root.get("config"),
        timeout=min(root.get("timeout") or deadline(), deadline()),
        docker_host=root.get("docker_host"),
        docker_context=root.get("docker_context"),
        containerd_address=root.get("address"),
        runtime_endpoint=root.get("runtime_endpoint"),
        image_endpoint=root.get("image_endpoint"),
    )
    return load(flags)


def _chosen(ctx: Any) -> tuple[list[str] | None, list[str] | None]:
    """The --backend and --namespace given to the command being completed."""
    params = ctx.params if ctx is not None else {}
    backend = params.get("backend")
    namespace = params.get("namespace")
    backends = [backend] if isinstance(backend, str) else list(backend) if backend else None
    namespaces = [namespace] if isinstance(namespace, str) else list(namespace) if namespace else None
    return backends, namespaces


def _quietly(produce: Callable[[], Iterable[str]], incomplete: str) -> list[str]:
    """Candidates that start with ``incomplete``, control characters escaped (a name's escape
    sequence must not reach the shell's line editor raw); nothing when the listing fails."""
    try:
        words = sorted(set(produce()))
    except BaseException:  # noqa: BLE001 -- a completion shows nothing rather than an error
        return []
    from .output import one_line

    return [one_line(w) for w in words if w.startswith(incomplete)]


def backends(incomplete: str) -> list[str]:
    from .adapters import all_descriptors

    return [d.name for d in all_descriptors() if d.name.startswith(incomplete)]


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    """containerd's namespaces: one `ctr namespaces ls`."""

    def produce() -> list[str]:
        from .adapters import adapter_class, all_namespaces_backend

        return adapter_class(all_namespaces_backend())(_settings(ctx)).namespaces()

    return _quietly(produce, incomplete)


def images(ctx: typer.Context, incomplete: str) -> list[str]:
    """Image names from one listing (the calls `ctrtool images` makes, never one per image)."""

    def produce() -> list[str]:
        from . import core

        conf = _settings(ctx)
        chosen, spaces = _chosen(ctx)
        got = core.list_images(conf, core.select_backends(conf, chosen, False), spaces)
        return [r.ref for r in got.rows if r.ref and not r.ref.startswith("sha256:")]

    return _quietly(produce, incomplete)


def containers(ctx: typer.Context, incomplete: str) -> list[str]:
    """Container names from one listing (the calls `ctrtool ps -a` makes)."""

    def produce() -> list[str]:
        from . import core

        conf = _settings(ctx)
        chosen, spaces = _chosen(ctx)
        got = core.list_containers(conf, core.select_backends(conf, chosen, False), spaces)
        return [r.name for r in got.rows if r.name and getattr(r, "kind", None) != "sandbox"]

    return _quietly(produce, incomplete)


def objects(ctx: typer.Context, incomplete: str) -> list[str]:
    """For `inspect NAME`: containers, then images."""
    return containers(ctx, incomplete) + images(ctx, incomplete)


def formats(incomplete: str) -> list[str]:
    from .output import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


def stores(ctx: typer.Context, incomplete: str) -> list[str]:
    """For `copy --from/--to`: docker, crictl, ctr, and ctr:NS for each containerd namespace (one
    `ctr namespaces ls`, only once `ctr:` is typed)."""
    from .adapters import BACKENDS, get_descriptor

    words = [b for b in BACKENDS if b.startswith(incomplete)]
    backend, colon, _ = incomplete.partition(":")
    if backend in BACKENDS and get_descriptor(backend).selects_namespace and (colon or incomplete == backend):
        words += [f"{backend}:{ns}" for ns in namespaces(ctx, "")]
    return sorted(w for w in set(words) if w.startswith(incomplete))


def profiles(incomplete: str) -> list[str]:
    """For `lab up --profile`: the lab's profiles."""
    from .lab.profiles import PROFILES

    return [p for p in PROFILES if p.startswith(incomplete)]


def docker_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """For `translate -- docker ...`: `docker` first, then the docker commands translate knows
    (management forms such as `container ls` as their second word), then that command's flags."""

    def produce() -> list[str]:
        from .translate.tables import grammar

        given = list(ctx.params.get("docker_args") or []) if ctx is not None else []
        if not given:
            return ["docker"]
        if given[0] == "docker":  # translate takes the line with or without it
            given = given[1:]
        g = grammar()
        names = set(g.commands) | set(g.aliases)
        if not given:
            return [n.split(" ")[0] for n in names]
        if len(given) == 1 and given[0] not in names:
            return [n.split(" ", 1)[1] for n in names if n.startswith(given[0] + " ")]
        command = " ".join(given[:2]) if " ".join(given[:2]) in names else given[0]
        command = g.aliases.get(command, command)
        spec = g.commands.get(command)
        if spec is None or not incomplete.startswith("-"):
            return []
        return [f.long for f in spec.flags if getattr(f, "long", None)]

    return _quietly(produce, incomplete)
