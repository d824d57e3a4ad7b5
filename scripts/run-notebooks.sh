#!/usr/bin/env bash
# Execute every notebook in notebooks/ headlessly, each in a fresh evcxr kernel, and fail on a
# compile error, a panic, an error printed by a cell (stderr), or a notebook without a figure
# (see scripts/run_notebooks.py). Installs what it needs when absent and skips it otherwise:
# evcxr_jupyter (~15 min cold build) and its kernelspec, and .venv with nbclient.
#
#   scripts/run-notebooks.sh                  # check: executes into a temp folder, repo untouched
#   scripts/run-notebooks.sh --write          # execute and save the outputs into notebooks/*.ipynb
#   scripts/run-notebooks.sh notebooks/02_score_matching_ve.ipynb   # just one
#   scripts/run-notebooks.sh --install-only   # also install JupyterLab into .venv, run nothing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EVCXR_VERSION="0.22.0"
JUPYTERLAB_VERSION="4.6.6" # keep in step with scripts/check-notebooks-browser.sh
PY_PACKAGES=(nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0)

install_only=0
args=()
for a in "$@"; do
    case "$a" in
        --install-only) install_only=1 ;;
        *) args+=("$a") ;;
    esac
done

# `cargo install --list` prints lines such as `evcxr_jupyter v0.22.0:`.
if cargo install --list | grep -qx "evcxr_jupyter v${EVCXR_VERSION}:"; then
    echo "run-notebooks: evcxr_jupyter ${EVCXR_VERSION} already installed"
else
    echo "run-notebooks: installing evcxr_jupyter ${EVCXR_VERSION} (about 15 minutes on 2 cores)"
    cargo install evcxr_jupyter --version "${EVCXR_VERSION}" --locked
fi
evcxr="$(command -v evcxr_jupyter || echo "${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter")"
"$evcxr" --install >/dev/null # writes the Jupyter kernelspec "rust"

if .venv/bin/python -c "import nbclient, nbformat, ipykernel" 2>/dev/null; then
    echo "run-notebooks: .venv has nbclient"
else
    echo "run-notebooks: creating .venv with ${PY_PACKAGES[*]}"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

# init.evcxr: a panic aborts the kernel (so it fails the run) and compiled crates are cached.
export EVCXR_CONFIG_DIR="$PWD/notebooks/evcxr"

if [ "$install_only" = 1 ]; then
    if ! .venv/bin/python -c "import jupyterlab" 2>/dev/null; then
        echo "run-notebooks: installing JupyterLab ${JUPYTERLAB_VERSION} into .venv"
        .venv/bin/pip install --quiet --disable-pip-version-check "jupyterlab==${JUPYTERLAB_VERSION}"
    fi
    echo "run-notebooks: ready. Open the notebooks with"
    echo "  EVCXR_CONFIG_DIR=notebooks/evcxr .venv/bin/jupyter lab notebooks/"
    exit 0
fi

exec .venv/bin/python scripts/run_notebooks.py "${args[@]+"${args[@]}"}"
