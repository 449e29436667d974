#!/usr/bin/env bash
# Set up a fresh machine and run ctrtool's main job or its test suite. Run as root from the repo:
#   scripts/dev.sh demo   install what is missing, start the local lab, show images and info
#   scripts/dev.sh test   install what is missing, run the whole test suite (lab tests included)
# Installs only what is missing: Debian packages (containerd, runc, docker.io,
# containernetworking-plugins, busybox-static; tmux, zsh and fish for the tests), crictl v1.37.0 (go install, into /usr/local/bin),
# and ctrtool itself with its test dependencies in ./.venv; for the test job also podman, conmon and the
# headers CRI-O's build needs (libseccomp-dev, libgpgme-dev, pkg-config). The lab's modern profiles
# (containerd 2.4.2, dockerd 29), kube and crio (CRI-O 1.37.0, from its source tarball) are built with Go
# by the first `lab up` that needs them, into ~/.cache/ctrtool/bin.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
job=${1:-}
case "$job" in
  demo|test) shift ;;
  *) echo "usage: scripts/dev.sh demo|test [pytest args...]" >&2; exit 2 ;;
esac

say() { printf '\n==> %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "scripts/dev.sh: run as root (the lab starts containerd and dockerd)" >&2
  exit 1
fi

export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

missing=()
for bin in containerd ctr runc dockerd; do command -v "$bin" >/dev/null || missing+=("$bin"); done
[ -x /usr/lib/cni/bridge ] || missing+=(cni-plugins)
[ -x /bin/busybox ] || missing+=(busybox)
# the tests run `ctrtool exec -it`, the tables and shell completion in a real terminal: tmux, zsh, fish;
# the crio lab (tests/test_lab_crio.py): podman and conmon, and the C headers CRI-O is built with
crio_packages=(podman conmon libseccomp-dev libgpgme-dev pkg-config)
if [ "$job" = test ]; then
  for bin in tmux zsh fish podman conmon pkg-config; do command -v "$bin" >/dev/null || missing+=("$bin"); done
  pkg-config --exists libseccomp gpgme 2>/dev/null || missing+=(libseccomp-dev libgpgme-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends containerd runc docker.io containernetworking-plugins \
    busybox-static $([ "$job" = test ] && echo tmux zsh fish "${crio_packages[@]}") >/dev/null
fi

if ! command -v crictl >/dev/null; then
  if [ -x "$HOME/go/bin/crictl" ]; then
    install -m 0755 "$HOME/go/bin/crictl" /usr/local/bin/crictl
  else
    say "installing crictl v1.37.0 with go install"
    GOBIN=/usr/local/bin go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
  fi
fi

if [ ! -x .venv/bin/ctrtool ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing ctrtool into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch .venv/.installed
fi
# bytecode, as an installed package has it: this checkout is installed editable, so nothing compiled
# ctrtool, and with PYTHONDONTWRITEBYTECODE=1 every run would compile it again (about 0.1 s of each
# command; docs/performance.md). Only what changed is compiled again.
.venv/bin/python -m compileall -q ctrtool >/dev/null
export PATH="$repo/.venv/bin:$PATH"

case "$job" in
  demo)
    say "starting the local lab"
    ctrtool lab up
    eval "$(ctrtool lab env)"
    say "ctrtool images --all-backends"
    ctrtool images --all-backends
    say "ctrtool info"
    ctrtool info
    say "the lab keeps running; stop it with: .venv/bin/ctrtool lab down"
    ;;
  test)
    say "lint, format and types: ruff check, ruff format --check, mypy (pyproject.toml)"
    ruff check ctrtool tests scripts benchmarks
    ruff format --check ctrtool tests scripts benchmarks
    mypy
    # The lab's own builds (containerd 2.4.2 and dockerd 29 for the modern profiles, CRI-O for the crio
    # lab (quicker, so before), then Kubernetes for the kube lab: about 20 minutes on 2 cores the first
    # time, cached after) run beside the
    # first tests (niced: the tests come first), which mostly wait for daemons; a lab that needs a build still running waits for
    # it (one lock per build), and the kube tests run last.
    if ! python -c 'import sys; from ctrtool.lab import profiles as p; sys.exit(0 if all(p.built_binaries(p.get(n)) for n in ("modern", "crio", "kube")) else 1)'; then
      say "building the modern, crio and kube lab binaries in the background (log: .venv/lab-build.log)"
      set -m  # its own process group, so that it can be stopped as a whole
      nice -n 10 python -c 'from ctrtool.lab import profiles as p
for n in ("modern", "crio", "kube"):
    p.ensure_built(p.get(n), lambda m: print(m, flush=True))' > .venv/lab-build.log 2>&1 &
      build_pid=$!
      set +m
      # a build that the run did not need to the end is stopped with it (go and its compilers are
      # in its process group); an unfinished build leaves nothing in the cache
      trap 'kill -TERM -- "-$build_pid" 2>/dev/null || true' EXIT
    fi
    say "running the test suite (unit tests, then the lab's on every profile: ${CTRTOOL_TEST_PROFILES:-debian,modern,modern-overlay2}, then the crio lab's, then the kube lab's)"
    # the slowest tests are named at the end of the run: the suite must stay well inside CI's budget
    python -m pytest --durations=25 "$@"
    ;;
esac
