#!/usr/bin/env bash
# Prepare a rented GPU machine for the course: a fresh Paperspace machine (Ubuntu 22.04
# or 24.04 with an NVIDIA GPU), or any Ubuntu GPU VM. Run it from the course folder:
#
#     bash setup/paperspace.sh
#
# It is safe to run again: every step first checks whether its work is already done,
# and a second run changes nothing and says so. Settings (environment variables):
#   COURSE_DATA        where the data sets go (default /storage/data when /storage
#                      exists, else ~/course-data); keep it on persistent storage
#   COURSE_ENV_NAME    the conda environment (default coursehelpers)
#   MINIFORGE_PREFIX   where Miniforge goes when no conda is found (default ~/miniforge3)
#   MINIFORGE_URL, MINIFORGE_SHA256   another copy of the installer (a mirror) and its sha256
set -euo pipefail
# shellcheck source=setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Miniforge release 26.3.2-3 and the sha256 of its Linux installers, as published with
# the release (Miniforge3-26.3.2-3-Linux-<arch>.sh.sha256). To move to a newer release,
# change the version and copy both sums from that release's .sha256 files.
MINIFORGE_VERSION=26.3.2-3
declare -A MINIFORGE_SHA256S=(
    [x86_64]=848194851a98903134187fbb4ab50efe87b003e0c0f808f97644b7524a62bf2c
    [aarch64]=2c113a69297e612b01ca0f320c22a3107a11f2ab9b573d79ac868a175945ce29
)

DATA_ROOT=$(default_data_root)
STEPS=7
CHANGED=0
CONDA=""
PY=""

check_driver() {
    local out
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        out="nvidia-smi was not found"
    elif ! out=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
        out="nvidia-smi failed: $out"
    else
        echo "GPU and driver: $out"
        return
    fi
    die "no working NVIDIA driver ($out).
Install the driver, reboot, then run this script again:
    sudo apt-get update && sudo apt-get install -y ubuntu-drivers-common
    sudo ubuntu-drivers install          # the recommended driver for this GPU
    sudo reboot
After the reboot, 'nvidia-smi' must list the GPU. (Paperspace's ML-in-a-Box template
comes with the driver; a plain Ubuntu template does not.)"
}

install_miniforge() {
    local arch url sha file got
    CONDA=$(find_conda)
    if [ -n "$CONDA" ]; then
        echo "conda found: $CONDA ($("$CONDA" --version))"
        return
    fi
    arch=$(uname -m)
    [ -n "${MINIFORGE_SHA256S[$arch]:-}" ] || die "no pinned Miniforge installer for this processor ($arch)."
    url=${MINIFORGE_URL:-https://github.com/conda-forge/miniforge/releases/download/$MINIFORGE_VERSION/Miniforge3-$MINIFORGE_VERSION-Linux-$arch.sh}
    sha=${MINIFORGE_SHA256:-${MINIFORGE_SHA256S[$arch]}}
    command -v curl >/dev/null || die "curl is needed to download Miniforge: sudo apt-get install -y curl"
    file=$(mktemp "${TMPDIR:-/tmp}/miniforge-XXXXXX.sh")
    echo "no conda found: downloading Miniforge $MINIFORGE_VERSION from $url"
    if ! curl --fail --location --proto '=https' --proto-redir '=https' --tlsv1.2 \
              --retry 3 --silent --show-error --output "$file" "$url"; then
        rm -f "$file"
        die "could not download the Miniforge installer from $url (only https is allowed).
Check the machine's internet access and run this script again."
    fi
    got=$(sha256sum "$file" | cut -c1-64)
    if [ "$got" != "$sha" ]; then
        rm -f "$file"
        die "the Miniforge installer's checksum is wrong, so it was deleted without running it.
    url:      $url
    expected: sha256 $sha
    got:      sha256 $got
The download was damaged or replaced. Run this script again; if it fails the same way,
download the installer by hand from https://github.com/conda-forge/miniforge/releases and compare."
    fi
    echo "checksum verified (sha256 $got); installing into $MINIFORGE_PREFIX"
    if [ -d "$MINIFORGE_PREFIX" ]; then
        bash "$file" -b -u -p "$MINIFORGE_PREFIX"     # a half-finished earlier install: update it
    else
        bash "$file" -b -p "$MINIFORGE_PREFIX"
    fi
    rm -f "$file"
    CONDA="$MINIFORGE_PREFIX/bin/conda"
    "$CONDA" init bash >/dev/null
    echo "Miniforge installed; new shells get 'conda activate $ENV_NAME' (conda init bash)"
    CHANGED=1
}

# The environment, then the torch build it holds: the GPU here makes setup/torch_build.py
# choose the CUDA build, which is pip's default, so it only confirms it in one line.
create_env() {
    ensure_env "$CONDA"
    PY="$(env_prefix "$CONDA")/bin/python"
    "$PY" setup/torch_build.py
}

# The kernel and JupyterLab's settings live inside the environment (setup/jupyter_setup.py):
# this clone's own kernel "Python (coursehelpers)", started with the data root; no news pop-up.
register_kernel() {
    local prefix
    prefix=$(env_prefix "$CONDA")
    if "$PY" setup/jupyter_setup.py --check --prefix "$prefix" --env COURSE_DATA "$DATA_ROOT"; then
        return
    fi
    "$PY" setup/jupyter_setup.py --prefix "$prefix" --env COURSE_DATA "$DATA_ROOT"
    CHANGED=1
}

# Every data set's full variant, one at a time so that one failure (Planet without a
# Kaggle token) does not stop the others. A stamp in the data root, keyed on the data
# registry, says the fetch is complete; a new data set in a course update fetches again.
fetch_data() {
    local stamp="$DATA_ROOT/.coursehelpers-fetched" key names name failed=()
    key="full $(sha256sum "$COURSE_ROOT/coursehelpers/datasets/registry.py" | cut -c1-64)"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
        echo "every data set is already in $DATA_ROOT"
        return
    fi
    mkdir -p "$DATA_ROOT"
    names=$("$PY" -c 'from coursehelpers.datasets import DATASETS; print(*DATASETS)')
    for name in $names; do
        echo "--- $name (full)"
        COURSE_DATA="$DATA_ROOT" "$PY" -m coursehelpers data fetch "$name" --full || failed+=("$name")
    done
    CHANGED=1
    if [ ${#failed[@]} -gt 0 ]; then
        echo "NOT fetched: ${failed[*]} (the message above says why); fix that and run this script again."
        return
    fi
    echo "$key" >"$stamp"
    echo "every data set is in $DATA_ROOT"
}

verify_gpu() {
    "$PY" -c '
import sys, torch
ok = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if ok else "none"
print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, GPU visible: {ok} ({name})")
sys.exit(0 if ok else 1)' || die "torch does not see the GPU although nvidia-smi does.
The banner below says why; usually the driver is older than the CUDA that torch was
built for (update the driver: sudo ubuntu-drivers install, then reboot).
$(COURSE_DATA="$DATA_ROOT" "$PY" -m coursehelpers info 2>&1 || true)"
    COURSE_DATA="$DATA_ROOT" "$PY" -m coursehelpers info
}

how_to_start() {
    cat <<EOF
Start JupyterLab (it keeps running when you close SSH):
    bash setup/jupyter.sh
It prints the URL to open and the tunnel to run on your own computer:
    ssh -N -L 8888:127.0.0.1:8888 $(id -un)@<this machine's public IP>
The machine bills until you stop it (Paperspace console: Stop); stop it when you are done.
EOF
}

cd "$COURSE_ROOT"
echo "Setting up the course in $COURSE_ROOT (data root: $DATA_ROOT)"
run_step "NVIDIA driver" check_driver
run_step "conda (Miniforge)" install_miniforge
run_step "conda environment '$ENV_NAME'" create_env
run_step "Jupyter kernel" register_kernel
run_step "data sets (full) into $DATA_ROOT" fetch_data
run_step "torch sees the GPU" verify_gpu
run_step "how to start Jupyter" how_to_start
if [ "$CHANGED" = 0 ]; then
    printf '\nNothing to do: this machine was already set up; nothing was changed.\n'
else
    printf '\nSet-up finished in %d s.\n' "$SECONDS"
fi
