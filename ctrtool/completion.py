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

import typer

from . import names
from .names import TIMEOUT, chosen_of, deadline, quietly, settings_of  # noqa: F401  (tests and callers use them here)

COMPLETE_VAR = "_CTRTOOL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

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
# own (`--no-files`, no condition), and offers paths only when ctrtool has no candidate (its answer
# is then one empty line), as bash's `-o default` does. fish inserts a candidate escaped
# (`globbox\*`): never expanded.
FISH_SCRIPT = """function __ctrtool_complete
    set -l candidates (env _CTRTOOL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) ctrtool 2>/dev/null | string match -v -- '')
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


def backends(incomplete: str) -> list[str]:
    from .adapters import all_descriptors

    return [d.name for d in all_descriptors() if d.name.startswith(incomplete)]


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    """containerd's namespaces: one `ctr namespaces ls`."""

    def produce() -> list[str]:
        from .adapters import adapter_class, all_namespaces_backend

        return adapter_class(all_namespaces_backend())(settings_of(ctx)).namespaces()

    return quietly(produce, incomplete)


def images(ctx: typer.Context, incomplete: str) -> list[str]:
    """Image names from one listing (the calls `ctrtool images` makes, never one per image)."""
    return names.images(ctx, incomplete)


def containers(ctx: typer.Context, incomplete: str) -> list[str]:
    """Container names from one listing (the calls `ctrtool ps -a` makes)."""
    return names.containers(ctx, incomplete)


def objects(ctx: typer.Context, incomplete: str) -> list[str]:
    """For `inspect NAME`: containers, then images."""
    return names.objects(ctx, incomplete)


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

    return quietly(produce, incomplete)
