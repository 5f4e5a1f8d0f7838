# The start-up checks every way into JupyterLab shares: setup/jupyter.sh runs them, in tmux
# or in the foreground (`make lab` is `setup/jupyter.sh foreground`). Sourced, never run;
# needs $PY (the course's Python) and `die` from common.sh.
# shellcheck shell=bash

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

# True when $1 is a loopback address (127.0.0.0/8, ::1) or the name localhost. The host is
# parsed as an address: a name that only starts with "127." is not loopback.
is_loopback() {
    [ "$1" = localhost ] && return 0
    "$PY" -c 'import ipaddress, sys
sys.exit(0 if ipaddress.ip_address(sys.argv[1].strip("[]")).is_loopback else 1)' "$1" 2>/dev/null
}

# Stop (die) unless JupyterLab may listen on $1: loopback, or any address once a password is set.
check_host() {
    is_loopback "$1" || has_password || die "refusing to listen on $1 without a Jupyter password: anyone who
finds the address could reach it. Use the SSH tunnel instead (the default, HOST=127.0.0.1),
or first set a password with: $PY -m jupyter lab password"
}

# Where to reach a server listening on $1 from this machine.
probe_address() {
    case "$1" in
        0.0.0.0|localhost) echo 127.0.0.1 ;;
        ::|'[::]') echo '[::1]' ;;
        *:*) echo "[${1#[}" | sed 's/]*$/]/' ;;
        *) echo "$1" ;;
    esac
}

# Wait until the server at http://$1:$2 answers with the token in file $3 (as long as the
# command "${@:4}" says it still runs). Returns 0 once it also refuses a request without
# the token (HTTP 403); 2 when it answers without one (LAB_CODE holds the HTTP status);
# 1 when it never started.
await_lab() {
    local probe=$1 port=$2 token_file=$3
    shift 3
    for _ in $(seq 120); do
        if curl --silent --fail --max-time 2 --header @- "http://$probe:$port/api/status" \
                <<<"Authorization: token $(cat "$token_file")" >/dev/null 2>&1; then
            LAB_CODE=$(curl --silent --max-time 5 --output /dev/null --write-out '%{http_code}' \
                            "http://$probe:$port/api/contents" || true)
            [ "$LAB_CODE" = 403 ] && return 0
            return 2
        fi
        "$@" || return 1
        sleep 0.5
    done
    return 1
}

# The message when a server answered without its token.
tokenless_message() {
    echo "JupyterLab answered without a token (HTTP $LAB_CODE), so it was stopped. A Jupyter
config file disables the token (look for 'token' in ${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}); remove that line."
}
