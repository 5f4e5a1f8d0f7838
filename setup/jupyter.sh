#!/usr/bin/env bash
# Start JupyterLab on the lessons inside tmux, so it keeps running when the SSH
# connection closes, and print how to reach it through an SSH tunnel.
#
#     bash setup/jupyter.sh            # start (or show the running one)
#     bash setup/jupyter.sh stop       # stop it
#     bash setup/jupyter.sh foreground # run it here, without tmux, until Ctrl-C (`make lab`)
#
# It binds to 127.0.0.1 with a token: only someone on this machine, or at the other
# end of your SSH tunnel, can reach it. The token is never disabled. Settings:
#   PORT (default 8888); HOST (default 127.0.0.1). Binding to any other address
#   (0.0.0.0 opens it to the internet) is refused unless a Jupyter password is set
#   (`jupyter lab password`), and even then the token stays on.
set -euo pipefail
# shellcheck source=setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=setup/lab_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab_checks.sh"

PORT=${PORT:-8888}
HOST=${HOST:-127.0.0.1}
SESSION=${COURSE_TMUX_SESSION:-course-jupyter}
STATE="${XDG_STATE_HOME:-$HOME/.local/state}/coursehelpers"
TOKEN_FILE="$STATE/jupyter-token"
PORT_FILE="$STATE/jupyter-port"
LOG="$STATE/jupyter.log"

tell() {
    local token port
    token=$(cat "$TOKEN_FILE")
    port=$(cat "$PORT_FILE")
    cat <<EOF
JupyterLab runs in tmux session '$SESSION' (it survives a closed SSH connection).
On your own computer, open the tunnel:
    ssh -N -L $port:127.0.0.1:$port $(id -un)@<this machine's public IP>
then open:
    http://127.0.0.1:$port/lab/tree/nbs?token=$token
See its output: tmux attach -t $SESSION (leave with Ctrl-b d).  Stop it: bash setup/jupyter.sh stop
REMINDER: the machine bills until you stop it in the Paperspace console (or your provider's).
EOF
}

MODE=${1:-start}
case "$MODE" in
    start|stop|foreground) ;;
    *) die "unknown command '$1': use start (the default), stop or foreground" ;;
esac
[ "$MODE" = foreground ] || command -v tmux >/dev/null || die "tmux is needed: sudo apt-get install -y tmux"

if [ "$MODE" = stop ]; then
    if tmux has-session -t "=$SESSION" 2>/dev/null; then
        tmux kill-session -t "=$SESSION"
        echo "stopped JupyterLab (tmux session '$SESSION')"
    else
        echo "JupyterLab is not running (no tmux session '$SESSION')"
    fi
    exit 0
fi

PY=${COURSE_PYTHON:-$(course_python)}
[ -n "$PY" ] || die "no course environment found: run 'bash setup/paperspace.sh' (or 'make setup') first."

check_host "$HOST"
PROBE=$(probe_address "$HOST")

# JUPYTER_PREFER_ENV_PATH=1 on both starts below: the environment's own kernel and settings
# (setup/jupyter_setup.py put them there) come before the user's. A venv does that by itself,
# a conda environment only when activated, which this script does not do.
ROOT_FLAG=()
[ "$(id -u)" != 0 ] || ROOT_FLAG=(--allow-root)
LAB_ARGS=(--no-browser "${ROOT_FLAG[@]}" --ServerApp.ip="$HOST" --ServerApp.port="$PORT"
          --ServerApp.port_retries=0 --ServerApp.root_dir="$COURSE_ROOT"
          --ServerApp.default_url=/lab/tree/nbs)

if [ "$MODE" = foreground ]; then
    # Here, until Ctrl-C: a fresh token for this run only, the same checks, then wait.
    RUN_TOKEN=$(mktemp)
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(24))' >"$RUN_TOKEN")
    JUPYTER_PREFER_ENV_PATH=1 JUPYTER_TOKEN=$(cat "$RUN_TOKEN") "$PY" -m jupyter lab "${LAB_ARGS[@]}" &
    LAB_PID=$!
    trap 'kill "$LAB_PID" 2>/dev/null; rm -f "$RUN_TOKEN"' EXIT
    trap 'exit 130' INT TERM
    set +e
    await_lab "$PROBE" "$PORT" "$RUN_TOKEN" kill -0 "$LAB_PID"
    status=$?
    set -e
    [ "$status" != 2 ] || die "$(tokenless_message)"
    [ "$status" = 0 ] || die "JupyterLab did not start (its output is above)."
    echo "JupyterLab is ready. Open: http://$PROBE:$PORT/lab?token=$(cat "$RUN_TOKEN")   (Ctrl-C stops it)"
    wait "$LAB_PID"
    exit $?
fi

if tmux has-session -t "=$SESSION" 2>/dev/null; then
    echo "JupyterLab is already running."
    tell
    exit 0
fi

# A fresh token, readable by this user only; the command line never holds it.
mkdir -p "$STATE"
(umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(24))' >"$TOKEN_FILE")
: >"$LOG"
echo "$PORT" >"$PORT_FILE"

# shellcheck disable=SC2016  # $(cat ...) runs inside tmux, so the token is never on a command line
printf -v cmd 'export COURSE_DATA=%q JUPYTER_PREFER_ENV_PATH=1 JUPYTER_TOKEN="$(cat %q)"; %q -m jupyter lab' \
    "$(default_data_root)" "$TOKEN_FILE" "$PY"
for arg in "${LAB_ARGS[@]}"; do
    printf -v cmd '%s %q' "$cmd" "$arg"
done
tmux new-session -d -s "$SESSION" -c "$COURSE_ROOT" "$cmd 2>&1 | tee -a $(printf %q "$LOG")"

# Wait until the server answers with the token; then make sure it refuses a request without
# one (a config file could have emptied it), and say how to reach it.
set +e
await_lab "$PROBE" "$PORT" "$TOKEN_FILE" tmux has-session -t "=$SESSION"
status=$?
set -e
if [ "$status" = 0 ]; then
    tell
    exit 0
fi
tmux kill-session -t "=$SESSION" 2>/dev/null || true
[ "$status" != 2 ] || die "$(tokenless_message)"
die "JupyterLab did not start. Its output ($LOG):
$(tail -n 30 "$LOG")"
