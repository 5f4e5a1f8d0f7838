# Shared by setup/paperspace.sh, setup/jupyter.sh and setup/update.sh: where things
# live, how to find conda and the course's environment, and how a step is printed.
# Sourced, never run. Every setting can be overridden from the environment.
# shellcheck shell=bash

COURSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_NAME=${COURSE_ENV_NAME:-coursehelpers}
MINIFORGE_PREFIX=${MINIFORGE_PREFIX:-$HOME/miniforge3}

# The data root: COURSE_DATA, else the machine's persistent storage (/storage on
# Paperspace Gradient), else a folder in the home directory.
default_data_root() {
    if [ -n "${COURSE_DATA:-}" ]; then
        echo "$COURSE_DATA"
    elif [ -d /storage ] && [ -w /storage ]; then
        echo /storage/data
    else
        echo "$HOME/course-data"
    fi
}

# The conda command: on PATH, else the Miniforge this script installs. Prints nothing if none.
find_conda() {
    if command -v conda >/dev/null 2>&1; then
        command -v conda
    elif [ -x "$MINIFORGE_PREFIX/bin/conda" ]; then
        echo "$MINIFORGE_PREFIX/bin/conda"
    fi
}

# The folder of the course's conda environment (it may not exist yet).
env_prefix() {
    local conda=$1 base
    base=$("$conda" info --base)
    if [ -d "$base/envs/$ENV_NAME" ] || [ ! -d "$HOME/.conda/envs/$ENV_NAME" ]; then
        echo "$base/envs/$ENV_NAME"
    else
        echo "$HOME/.conda/envs/$ENV_NAME"       # where conda puts it when base is read-only
    fi
}

# The Python that runs the course: the conda environment's, else `make lab`'s .venv.
course_python() {
    local conda
    conda=$(find_conda)
    if [ -n "$conda" ] && [ -x "$(env_prefix "$conda")/bin/python" ]; then
        echo "$(env_prefix "$conda")/bin/python"
    elif [ -x "$COURSE_ROOT/.venv/bin/python" ]; then
        echo "$COURSE_ROOT/.venv/bin/python"
    fi
}

# What the environment is built from: when this changes, the environment is updated.
env_hash() {
    cat "$COURSE_ROOT/environment.yml" "$COURSE_ROOT/pyproject.toml" | sha256sum | cut -c1-64
}

# Create the conda environment, or update it when environment.yml or pyproject.toml
# changed since it was last built. Sets CHANGED=1 when it did anything.
ensure_env() {
    local conda=$1 prefix stamp
    prefix=$(env_prefix "$conda")
    stamp="$prefix/.coursehelpers-env.sha256"
    if [ -x "$prefix/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(env_hash)" ]; then
        echo "environment '$ENV_NAME' is up to date ($prefix)"
        return
    fi
    if [ -x "$prefix/bin/python" ]; then
        echo "environment.yml or pyproject.toml changed: updating '$ENV_NAME'"
        (cd "$COURSE_ROOT" && "$conda" env update -n "$ENV_NAME" -f environment.yml --prune)
    else
        echo "creating environment '$ENV_NAME' from environment.yml (torch and friends: several minutes)"
        (cd "$COURSE_ROOT" && "$conda" env create -n "$ENV_NAME" -f environment.yml)
    fi
    env_hash >"$stamp"
    # shellcheck disable=SC2034  # read by the script that sourced this file
    CHANGED=1
}

# run_step TITLE FUNCTION [ARGS...]: print the step, run it, print how long it took.
STEP=0
STEPS=${STEPS:-1}
run_step() {
    local title=$1 t0=$SECONDS
    shift
    STEP=$((STEP + 1))
    printf '\n==> [%d/%d] %s\n' "$STEP" "$STEPS" "$title"
    "$@"
    printf '    [%d/%d] %s took %d s\n' "$STEP" "$STEPS" "$title" $((SECONDS - t0))
}

die() {
    printf '\nSTOPPED: %s\n' "$*" >&2
    exit 1
}
