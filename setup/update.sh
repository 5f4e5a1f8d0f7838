#!/usr/bin/env bash
# Update the course without losing your work:
#
#     bash setup/update.sh
#
# 1. Every file you changed or added (your notebooks) is copied to my-work/<date-time>/
#    and committed to your local git history (branch my-work-<date-time> points at it).
# 2. The new course is merged in. Where the course changed a notebook that you also
#    changed, the course's version takes its place and yours stays in my-work/<date-time>/.
# 3. The environment is updated if environment.yml or pyproject.toml changed.
# A second run with nothing changed does nothing. Settings: COURSE_REMOTE (default
# origin) and COURSE_BRANCH (default: the branch your checkout follows, else main).
set -euo pipefail
# shellcheck source=setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$COURSE_ROOT"
STAMP=$(date +%Y%m%d-%H%M%S)
SAVED="my-work/$STAMP"
REMOTE=${COURSE_REMOTE:-origin}
BRANCH=${COURSE_BRANCH:-$(git rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null | sed "s|^$REMOTE/||" || true)}
BRANCH=${BRANCH:-main}
STEPS=3
CHANGED=0
GIT=(git)          # commits need a name; a student's machine may have none configured
git config user.email >/dev/null || GIT+=(-c user.name="course student" -c user.email="student@localhost")

[ -d .git ] || die "$COURSE_ROOT is not a git checkout: clone the course with git to be able to update it."
[ ! -f .git/MERGE_HEAD ] || die "an earlier merge is unfinished: run 'git merge --abort' (your work is in my-work/), then run this again."
# my-work/ stays out of git's view on this machine only, so saving never saves the saves.
grep -qxF '/my-work/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info && echo '/my-work/' >>.git/info/exclude; }

save_work() {
    local files f
    if [ -z "$(git status --porcelain --untracked-files=all)" ]; then
        echo "no changes of yours to save"
        return
    fi
    "${GIT[@]}" add --all
    files=$(git diff --cached --name-only --diff-filter=d)
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        mkdir -p "$SAVED/$(dirname "$f")"
        cp -p "$f" "$SAVED/$f"
        echo "saved $f -> $SAVED/$f"
    done <<<"$files"
    "${GIT[@]}" commit --quiet -m "My work, saved by setup/update.sh before updating ($STAMP)"
    git branch "my-work-$STAMP"
    echo "your changes are committed (branch my-work-$STAMP) and copied to $COURSE_ROOT/$SAVED/"
    CHANGED=1
}

# Where the course and you both changed a file, the course's version goes in place and
# yours is copied to my-work/ (notebooks are JSON: a line-by-line mix would break them).
resolve_conflicts() {
    local f
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        if git cat-file -e "MERGE_HEAD:$f" 2>/dev/null; then
            if git cat-file -e "HEAD:$f" 2>/dev/null; then
                mkdir -p "$SAVED/$(dirname "$f")"
                git show "HEAD:$f" >"$SAVED/$f"
            fi
            git checkout --theirs -- "$f"
            echo "changed by both you and the course: $f is now the course's version; yours is $SAVED/$f"
        else
            echo "the course removed $f; your version stays"
        fi
        git add -- "$f"
    done <<<"$(git diff --name-only --diff-filter=U)"
    "${GIT[@]}" commit --quiet --no-edit
}

pull_course() {
    git fetch --quiet "$REMOTE" "$BRANCH"
    if git merge-base --is-ancestor FETCH_HEAD HEAD; then
        echo "you already have the latest course ($REMOTE/$BRANCH)"
        return
    fi
    echo "merging the new course from $REMOTE/$BRANCH:"
    git log --oneline HEAD..FETCH_HEAD | sed 's/^/    /'
    if ! "${GIT[@]}" merge --no-edit --quiet FETCH_HEAD; then
        [ -f .git/MERGE_HEAD ] || die "git could not merge the new course (its message is above); your work is committed and in my-work/."
        resolve_conflicts
    fi
    CHANGED=1
}

update_env() {
    local conda
    conda=$(find_conda)
    if [ -n "$conda" ] && [ -x "$(env_prefix "$conda")/bin/python" ]; then
        ensure_env "$conda"
    elif [ -x .venv/bin/python ]; then
        if make -q setup 2>/dev/null; then
            echo "the .venv is up to date"
        else
            make setup
            CHANGED=1
        fi
    else
        echo "no environment here yet: run 'bash setup/paperspace.sh' (GPU machine) or 'make setup'"
    fi
}

run_step "save your work" save_work
run_step "get the new course" pull_course
run_step "update the environment" update_env
if [ "$CHANGED" = 0 ]; then
    printf '\nNothing to do: no changes of yours to save and the course is up to date.\n'
else
    printf '\nUpdated in %d s.%s\n' "$SECONDS" "$( [ -d "$SAVED" ] && echo " Your work before the update: $COURSE_ROOT/$SAVED/")"
fi
