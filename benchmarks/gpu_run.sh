#!/usr/bin/env bash
# Everything a GPU machine should measure, in one run of under 8 minutes, with no internet.
#
# Run from the course folder, after the carry recipe of setup/README.md (the wheels in .whl/,
# the quick-mode samples in .mirror/), on a machine with torch and a GPU:
#
#     bash benchmarks/gpu_run.sh            # or: make gpu-run PYTHON=python3
#
# Steps, most important first; each has its own time limit, cut to what is left of the
# whole run's BUDGET_S, and a step that has no time left is skipped and says so:
#   1. quick     every lesson in quick mode, in-process, LESSON_LIMIT_S each, every batch
#                timed: results, notebook seconds and the stall table (first / median / worst step)
#   2. profile   benchmarks/profile_first_steps.py: what a new input shape costs under each
#                autotuning policy (first, median, partial-batch, validation and one-image steps,
#                and the operations the first step spent its time in)
#   3. tests     the unit tests on CUDA (what make gpu-test runs)
#   4. loaders   benchmarks/bench_loader_efficiency.py (lessons 01 and 02, full-mode settings)
#   5. before    lesson 01 again with COURSE_CUDNN_AUTOTUNE=on (the old policy), timed the same
#                way, for the before-and-after of the autotuning policy
#   6. project   the full-mode projection on stand-ins (make gpu-project's steps, at PROJECT_SCALE)
#   7. compile   benchmarks/bench_compile.py (torch.compile on each full-mode model)
# Everything lands in RESULTS (default $OUT if set, else runs/gpu); benchmarks/gpu_summary.py
# gathers it into RESULTS/gpu_run.json, which `python benchmarks/update_readme.py` (make results)
# turns into README rows marked with the device. COURSE_DEVICE=cpu runs the same script on a CPU
# (a dry run: the numbers are the CPU's and say so); for a short one, narrow the steps:
#   QUICK_LESSONS='05 08' TESTS=tests/test_gpu_policy.py LOADER_ARGS='--settings 01 --bs 8'
#   PROJECT_LESSONS='05 08' COMPILE_ARGS='--cases collab05' COURSE_DEVICE=cpu bash benchmarks/gpu_run.sh
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RESULTS=${RESULTS:-${OUT:-runs/gpu}}
BUDGET_S=${BUDGET_S:-470}
LESSON_LIMIT_S=${LESSON_LIMIT_S:-90}
PROJECT_SCALE=${PROJECT_SCALE:-0.05}
QUICK_LESSONS=${QUICK_LESSONS:-}          # empty: every lesson
PROJECT_LESSONS=${PROJECT_LESSONS:-}
TESTS=${TESTS:-tests}
LOADER_ARGS=${LOADER_ARGS:-}
COMPILE_ARGS=${COMPILE_ARGS:-}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
START=$(date +%s)
STEPS="$RESULTS/steps.jsonl"
: > "$STEPS"

if ls .whl/*.whl >/dev/null 2>&1; then          # the carried wheels (setup/README.md)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/course-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/course-site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
[ -d .mirror ] && export COURSE_DATA_MIRROR=${COURSE_DATA_MIRROR:-$PWD/.mirror}
export COURSE_DATA=${COURSE_DATA:-/tmp/course-data}
export MPLBACKEND=Agg PYTHONUNBUFFERED=1

# step NAME LIMIT_S COMMAND...: run COMMAND under the smaller of LIMIT_S and the time left.
step() {
    local name=$1 limit=$2; shift 2
    local left=$(( BUDGET_S - ($(date +%s) - START) ))
    if (( left < 20 )); then
        echo "== $name: skipped, ${left}s of the ${BUDGET_S}s budget left"
        echo "{\"step\": \"$name\", \"status\": \"skipped\", \"seconds\": 0, \"limit_s\": 0}" >> "$STEPS"
        return
    fi
    (( limit > left )) && limit=$left
    echo "== $name (limit ${limit}s): $*"
    local t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    local rc=$? status=ok
    (( rc == 124 || rc == 137 )) && status=timed_out
    (( rc != 0 && rc != 124 && rc != 137 )) && status=failed
    local secs=$(( $(date +%s) - t0 ))
    tail -n 25 "$RESULTS/$name.log"
    echo "== $name: $status in ${secs}s (exit $rc)"
    echo "{\"step\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $secs, \"limit_s\": $limit}" >> "$STEPS"
}

"$PYTHON" -m coursehelpers info > "$RESULTS/info.log" 2>&1; cat "$RESULTS/info.log"

step quick 260 env COURSE_MODE=quick "$PYTHON" -m coursehelpers lessons run $QUICK_LESSONS \
    --in-process --timeout "$LESSON_LIMIT_S" --stalls --out "$RESULTS/quick"
step profile 60 "$PYTHON" benchmarks/profile_first_steps.py --out "$RESULTS/bench"
step tests 100 env COURSE_MODE=quick "$PYTHON" -m pytest -q -rs -p no:cacheprovider $TESTS \
    --junitxml="$RESULTS/tests.xml"
step loaders 70 "$PYTHON" benchmarks/bench_loader_efficiency.py $LOADER_ARGS --out "$RESULTS/bench"
step before 60 env COURSE_MODE=quick COURSE_CUDNN_AUTOTUNE=on "$PYTHON" -m coursehelpers \
    lessons run 01 --in-process --timeout "$LESSON_LIMIT_S" --stalls --out "$RESULTS/before"
step project 120 env COURSE_PRETRAINED=0 "$PYTHON" -m coursehelpers lessons project \
    $PROJECT_LESSONS --scale "$PROJECT_SCALE" --max-batches 4 --in-process \
    --timeout "$LESSON_LIMIT_S" --out "$RESULTS/project"
step compile 120 "$PYTHON" benchmarks/bench_compile.py $COMPILE_ARGS --out "$RESULTS/bench"

"$PYTHON" benchmarks/gpu_summary.py "$RESULTS"
echo "whole run: $(( $(date +%s) - START ))s; results in $RESULTS/gpu_run.json"
