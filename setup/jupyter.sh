#!/usr/bin/env bash
# Start JupyterLab on the lessons inside tmux, so it keeps running when the SSH
# connection closes, and print how to reach it through an SSH tunnel.
#
#     bash setup/jupyter.sh            # start (or show the running one)
#     bash setup/jupyter.sh stop       # stop it
#
# It binds to 127.0.0.1 with a token: only someone on this machine, or at the other
# end of your SSH tunnel, can reach it. The token is never disabled. Settings:
#   PORT (default 8888); HOST (default 127.0.0.1). Binding to any other address
#   (0.0.0.0 opens it to the internet) is refused unless a Jupyter password is set
#   (`jupyter lab password`), and even then the token stays on.
set -euo pipefail
# shellcheck source=setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=${PORT:-8888}
HOST=${HOST:-127.0.0.1}
SESSION=${COURSE_TMUX_SESSION:-course-jupyter}
STATE="${XDG_STATE_HOME:-$HOME/.local/state}/coursehelpers"
TOKEN_FILE="$STATE/jupyter-token"
PORT_FILE="$STATE/jupyter-port"
LOG="$STATE/jupyter.log"

# A password set with `jupyter lab password` (or in a jupyter_server_config.py).
has_password() {
    local dir="${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}"
    "$PY" - "$dir/jupyter_server_config.json" <<'PYEOF' 2>/dev/null && return 0
import json, sys
cfg = json.load(open(sys.argv[1]))
sys.exit(0 if cfg.get('IdentityProvider', cfg.get('ServerApp', {})).get('hashed_password') else 1)
PYEOF
    grep -Eqs "^[^#]*hashed_password *= *['\"][^'\"]+" "$dir/jupyter_server_config.py"
}

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

command -v tmux >/dev/null || die "tmux is needed: sudo apt-get install -y tmux"

if [ "${1:-start}" = stop ]; then
    if tmux has-session -t "=$SESSION" 2>/dev/null; then
        tmux kill-session -t "=$SESSION"
        echo "stopped JupyterLab (tmux session '$SESSION')"
    else
        echo "JupyterLab is not running (no tmux session '$SESSION')"
    fi
    exit 0
fi
[ "${1:-start}" = start ] || die "unknown command '$1': use start (the default) or stop"

PY=$(course_python)
[ -n "$PY" ] || die "no course environment found: run 'bash setup/paperspace.sh' (or 'make setup') first."

case "$HOST" in
    127.*|localhost|::1) ;;
    *) has_password || die "refusing to listen on $HOST without a Jupyter password: anyone who
finds the address could reach it. Use the SSH tunnel instead (the default, HOST=127.0.0.1),
or first set a password with: $PY -m jupyter lab password" ;;
esac
case "$HOST" in
    0.0.0.0|::|localhost) PROBE=127.0.0.1 ;;
    *) PROBE=$HOST ;;
esac

if tmux has-session -t "=$SESSION" 2>/dev/null; then
    echo "JupyterLab is already running."
    tell
    exit 0
fi

ROOT_FLAG=()
[ "$(id -u)" != 0 ] || ROOT_FLAG=(--allow-root)

# A fresh token, readable by this user only; the command line never holds it.
mkdir -p "$STATE"
(umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(24))' >"$TOKEN_FILE")
: >"$LOG"
echo "$PORT" >"$PORT_FILE"

# shellcheck disable=SC2016  # $(cat ...) runs inside tmux, so the token is never on a command line
printf -v cmd 'export COURSE_DATA=%q JUPYTER_TOKEN="$(cat %q)"; %q -m jupyter lab --no-browser' \
    "$(default_data_root)" "$TOKEN_FILE" "$PY"
for arg in "${ROOT_FLAG[@]}" --ServerApp.ip="$HOST" --ServerApp.port="$PORT" --ServerApp.port_retries=0 \
           --ServerApp.root_dir="$COURSE_ROOT" --ServerApp.default_url=/lab/tree/nbs; do
    printf -v cmd '%s %q' "$cmd" "$arg"
done
tmux new-session -d -s "$SESSION" -c "$COURSE_ROOT" "$cmd 2>&1 | tee -a $(printf %q "$LOG")"

# Wait until the server answers with the token; then make sure it refuses a request
# without one (a config file could have emptied it), and say how to reach it.
for _ in $(seq 120); do
    if curl --silent --fail --max-time 2 --header @- "http://$PROBE:$PORT/api/status" \
            <<<"Authorization: token $(cat "$TOKEN_FILE")" >/dev/null 2>&1; then
        code=$(curl --silent --max-time 5 --output /dev/null --write-out '%{http_code}' \
                    "http://$PROBE:$PORT/api/contents" || true)
        if [ "$code" != 403 ]; then
            tmux kill-session -t "=$SESSION"
            die "JupyterLab answered without a token (HTTP $code), so it was stopped. A Jupyter
config file disables the token (look for 'token' in ${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}); remove that line."
        fi
        tell
        exit 0
    fi
    tmux has-session -t "=$SESSION" 2>/dev/null || break
    sleep 0.5
done
tmux kill-session -t "=$SESSION" 2>/dev/null || true
die "JupyterLab did not start. Its output ($LOG):
$(tail -n 30 "$LOG")"
