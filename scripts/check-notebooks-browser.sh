#!/usr/bin/env bash
# Open every committed notebook (notebooks/*.ipynb) in JupyterLab as a reader who has not run
# it sees it, *untrusted*, in headless Chromium, and fail when a figure output is not shown as
# an image (JupyterLab sanitizes untrusted text/html: an inline <svg> there is stripped and its
# labels show as loose text), when the number of images shown differs from the number of figure
# outputs in the .ipynb, or on a console error. Nothing is executed. Screenshots go to
# target/notebook-browser/ for a look by eye.
#
#   scripts/check-notebooks-browser.sh                            # every committed notebook
#   scripts/check-notebooks-browser.sh notebooks/04_ddpm.ipynb    # just one
#
# JupyterLab runs from .venv on 127.0.0.1 with a random token and port, with an in-memory
# notebook-signature database (so no notebook is trusted, whatever `jupyter trust` said
# before) and fresh user settings and workspaces; it is stopped on exit. Installs, when
# absent: JupyterLab into .venv (as `scripts/run-notebooks.sh --install-only` does), Debian's
# chromium (needs root or sudo) and playwright-core from npm (into target/browser-check, no
# browser download). The evcxr kernel is not needed (JupyterLab starts it if installed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
tools="${root}/target/browser-check"
logs="${root}/target/notebook-browser"
PLAYWRIGHT_VERSION="1.64.1"
JUPYTERLAB_VERSION="4.6.6" # keep in step with scripts/run-notebooks.sh
start=$(date +%s)

fail() { echo "check-notebooks-browser: FAIL: $*" >&2; exit 1; }

if [ "$#" -gt 0 ]; then notebooks=("$@"); else notebooks=(notebooks/*.ipynb); fi
for nb in "${notebooks[@]}"; do
    [ -f "${nb}" ] || fail "no notebook ${nb}"
    [ "$(dirname "$(realpath "${nb}")")" = "${root}/notebooks" ] || fail "${nb} is not in notebooks/"
done

# --- what it needs -------------------------------------------------------------------------
if ! .venv/bin/python -c "import jupyterlab" 2>/dev/null; then
    echo "check-notebooks-browser: installing JupyterLab ${JUPYTERLAB_VERSION} into .venv"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "jupyterlab==${JUPYTERLAB_VERSION}"
fi
if ! command -v chromium >/dev/null; then
    echo "check-notebooks-browser: installing Debian's chromium"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    ${sudo} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || fail "node not found (Node.js is needed for playwright-core)"
mkdir -p "${tools}" "${logs}"
if [ "$(node -p "try { require('${tools}/node_modules/playwright-core/package.json').version } catch (e) { '' }")" != "${PLAYWRIGHT_VERSION}" ]; then
    echo "check-notebooks-browser: installing playwright-core ${PLAYWRIGHT_VERSION}"
    npm install --silent --no-audit --no-fund --prefix "${tools}" "playwright-core@${PLAYWRIGHT_VERSION}" >/dev/null
fi
cp scripts/check_notebooks_browser.mjs "${tools}/check_notebooks_browser.mjs"

# --- JupyterLab on loopback, stopped on exit ------------------------------------------------
# It serves copies in a scratch folder, so that nothing it writes (checkpoints, an autosave)
# lands in the repository.
scratch="$(mktemp -d)"
mkdir -p "${scratch}/notebooks"
cp "${notebooks[@]}" "${scratch}/notebooks/"
server_pid=""
stop_server() {
    if [ -n "${server_pid}" ] && kill -0 "${server_pid}" 2>/dev/null; then
        kill -TERM "${server_pid}" 2>/dev/null || true
        # JupyterLab shuts its kernels down on SIGTERM; give it 20 s, then force it.
        for _ in $(seq 1 40); do kill -0 "${server_pid}" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "${server_pid}" 2>/dev/null || true
        wait "${server_pid}" 2>/dev/null || true
    fi
    rm -rf "${scratch}"
}
trap stop_server EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
base="http://127.0.0.1:${port}"
root_flag=()
if [ "$(id -u)" -eq 0 ]; then root_flag=(--allow-root); fi # CI machines run as root
EVCXR_CONFIG_DIR="${root}/notebooks/evcxr" JUPYTER_RUNTIME_DIR="${scratch}/runtime" \
    .venv/bin/jupyter lab --no-browser "${root_flag[@]+"${root_flag[@]}"}" \
    --ServerApp.ip=127.0.0.1 --ServerApp.port="${port}" --ServerApp.port_retries=0 \
    --IdentityProvider.token="${token}" \
    --ServerApp.root_dir="${scratch}/notebooks" \
    --NotebookNotary.db_file=:memory: \
    --LabApp.user_settings_dir="${scratch}/settings" \
    --LabApp.workspaces_dir="${scratch}/workspaces" \
    --LabApp.news_url=None \
    --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
    --LabApp.extension_manager=readonly \
    >"${logs}/jupyterlab.log" 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 1 120); do # up to 60 s
    kill -0 "${server_pid}" 2>/dev/null || { tail -20 "${logs}/jupyterlab.log" >&2; fail "JupyterLab exited at start (log: ${logs}/jupyterlab.log)"; }
    if curl -fsS --max-time 2 -H "Authorization: token ${token}" "${base}/api/status" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.5
done
[ "${ready}" = 1 ] || fail "JupyterLab did not answer on ${base} within 60 s (log: ${logs}/jupyterlab.log)"
echo "check-notebooks-browser: JupyterLab $(.venv/bin/python -c 'import jupyterlab; print(jupyterlab.__version__)') on ${base}"

status=0
JUPYTER_TOKEN="${token}" node "${tools}/check_notebooks_browser.mjs" "${base}" "${logs}" "${notebooks[@]}" || status=$?
echo "check-notebooks-browser: $(( $(date +%s) - start )) s"
exit "${status}"
