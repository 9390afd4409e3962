#!/usr/bin/env bash
# Every test of the project, as `make test` runs it (and CI, through .ci/run):
#   lint      yamllint, ansible-lint --profile production, ansible-playbook --syntax-check,
#             ansible-test sanity on the collection as built, antsibull-changelog lint,
#             ruff on every Python file and mypy --strict (updater, fakes), with the one
#             configuration in pyproject.toml, and the shell scripts through shellcheck
#   unit      the fakes' tests, the role's spec test, the collection's tests and a reproducible
#             release build (scripts/release.sh --check), the updater's tests (Python 3.11 and 3.13),
#             the 500-Pi fleet simulation (tests/fleet, ~1 min), the emulated Pi 1 (scripts/pi1.sh),
#             the role on ansible-core 2.14 and 2.21 (scripts/controller-matrix.sh)
#   molecule  every Molecule scenario (default, reprovision, check, absent, preflight) on a
#             booted Debian "Pi" of each suite (bookworm, trixie), and collection (the release
#             installed into a user's own repo) and upgrade (N to N+1 while the service runs)
#             on trixie: the matrix, PI_JOBS runs at once
#
#   scripts/test.sh                          everything
#   scripts/test.sh lint unit                some groups
#   scripts/test.sh molecule:check           one scenario, both suites
#   scripts/test.sh molecule:check:trixie    one scenario, one suite
#
# PI_JOBS: Molecule runs at once (default 2: the two suites of a scenario side by side).
# Every step runs even when an earlier one failed; the exit code is 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SCENARIOS=(default reprovision check absent preflight collection upgrade)
SUITES=(bookworm trixie)      # Raspberry Pi OS 12 for existing Pis, 13 as flashed today
# Scenarios that run on one suite only. collection proves packaging and the install paths on the
# controller; what the role does per suite, the other scenarios prove on both.
declare -A ONE_SUITE=([collection]=trixie [upgrade]=trixie)
suites_of() { if [ -n "${ONE_SUITE[$1]:-}" ]; then echo "${ONE_SUITE[$1]}"; else echo "${SUITES[@]}"; fi; }
PI_JOBS=${PI_JOBS:-2}

[ "${SKIP_BOOTSTRAP:-0}" = 1 ] || scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 NO_COLOR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
UPY=$root/updater/.venv/bin/python
# Debian's node_exporter, unpacked by bootstrap.sh: the metrics checks serve the textfile through it.
ne_dir=$HOME/.cache/pi-ddns/node-exporter
if [ -x "$ne_dir/root/usr/bin/prometheus-node-exporter" ]; then
    export NODE_EXPORTER=$ne_dir/root/usr/bin/prometheus-node-exporter
    debs=("$ne_dir"/prometheus-node-exporter_*.deb)
    export PI_DDNS_NODE_EXPORTER_DEB=${debs[0]}
fi

# An interrupted run must not leave a scenario's "Pi" running.
ran_molecule=0
instances=()
for s in "${SCENARIOS[@]}"; do for v in $(suites_of "$s"); do instances+=("$s-$v"); done; done
trap '[ $ran_molecule = 0 ] || PI_QUIET=1 scripts/pi-nspawn.sh sweep "${instances[@]}" || true' EXIT

passed=() failed=()
t_all=$SECONDS
step() {
    # step NAME CMD...: run one step, streaming its output, and record the result.
    local name=$1 t0=${STEP_T0:-$SECONDS} rc=0; shift
    printf '\n==> test: %s\n' "$name"
    "$@" || rc=$?
    if [ "$rc" = 0 ]; then
        passed+=("$name"); printf '<== test: %s: ok (%ss)\n' "$name" $((SECONDS - t0))
    else
        failed+=("$name"); printf '<== test: %s: FAILED, exit %s (%ss)\n' "$name" "$rc" $((SECONDS - t0))
    fi
}

syntax_check() {
    local pb rc=0
    for pb in playbooks/*.yml; do
        ansible-playbook --syntax-check -i localhost, "$pb" || rc=1
    done
    return $rc
}
python_static() {
    # Every Python file (the updater, its tests and bench, the fakes, the Molecule and role
    # tests) under the one configuration in pyproject.toml; types for the updater and the fakes.
    [ -x "$UPY" ] || { echo "updater/.venv missing (updater/bootstrap-venv.sh)"; return 1; }
    "$UPY" -m ruff check . && "$UPY" -m mypy --strict updater/src && "$UPY" -m mypy --strict fakes &&
        "$UPY" -m mypy --strict tests/fleet/sim.py tests/fleet/test_fleet.py
}
collection_sanity() {
    # ansible-test sanity on the collection as it ships (built, then installed under
    # .../ansible_collections/pi_ddns/appliance) plus tests/sanity, in --venv mode (no containers),
    # on the tool venv's Python only: the role's YAML and the updater's source are the same on
    # every controller Python, and one version keeps the step short. pep8 and pylint are skipped:
    # the collection's only Python is the updater's source, which ruff and mypy --strict check
    # under the repo's one configuration (python_static); ansible-test's configurations for them
    # are for Ansible plugins and disagree with it (pylint forbids `_` as a name, for one).
    local tmp rc=0 pip_version cache
    pip_version=$("$root/.venv/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; from ansible_test._internal.host_configs import NativePythonConfig as P; print(g(P(version="3.11"))["pip"])')
    cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
    [ -s "$cache" ] || { mkdir -p "${cache%/*}" && cp scripts/get-pip-standin.py "$cache"; }
    tmp=$(mktemp -d /tmp/pi-ddns-sanity.XXXXXX)
    ansible-galaxy collection build --force --output-path "$tmp" . >/dev/null \
        && ansible-galaxy collection install -p "$tmp" "$tmp"/pi_ddns-appliance-*.tar.gz >/dev/null 2>&1 \
        && mkdir -p "$tmp/ansible_collections/pi_ddns/appliance/tests" \
        && cp -r tests/sanity "$tmp/ansible_collections/pi_ddns/appliance/tests/" \
        && (cd "$tmp/ansible_collections/pi_ddns/appliance" && ansible-test sanity --venv --python 3.11 --color no \
            --skip-test pep8 --skip-test pylint) || rc=$?
    rm -rf "$tmp"
    return $rc
}
shell_lint() {
    command -v shellcheck >/dev/null || { echo "shellcheck not installed, skipped"; return 0; }
    shellcheck -x scripts/*.sh .ci/run
}
pytest_in() {
    # pytest_in PYTHON DIR [ARGS...]: run a test directory; "no tests" (exit 5) is a failure too.
    local py=$1 dir=$2; shift 2
    [ -x "$py" ] || { echo "$py missing"; return 1; }
    "$py" -m pytest -p no:cacheprovider -q -ra "$@" "$dir"
}
scenario() {
    # scenario NAME SUITE: one Molecule scenario on one suite. Each run has its own ephemeral
    # directory (state, key, known_hosts, the fake's files), so both suites can run at once.
    local s=$1 suite=$2
    ran_molecule=1
    export PI_SUITE=$suite
    export MOLECULE_EPHEMERAL_DIRECTORY=$HOME/.ansible/tmp/molecule.pi-ddns.${root##*/}.$s-$suite
    # The shared settings, explicitly: molecule finds them by itself only inside a git checkout.
    local base=(--base-config "$root/.config/molecule/config.yml")
    molecule "${base[@]}" reset -s "$s" >/dev/null 2>&1 || true   # stale state of an aborted run
    # A crash inside molecule can skip its own destroy step: make sure the "Pi" and its fake go.
    molecule "${base[@]}" test -s "$s" || { local rc=$?; molecule "${base[@]}" destroy -s "$s" >/dev/null 2>&1; return $rc; }
}
matrix() {
    # matrix SCENARIO:SUITE...: the runs, PI_JOBS at once; each run's output is printed whole
    # when it ends (so parallel logs do not interleave) and counts as one step.
    local -A names=() starts=()
    local job done_pid rc log dir
    dir=$(mktemp -d /tmp/pi-ddns-matrix.XXXXXX)
    ran_molecule=1
    scripts/pi-nspawn.sh sweep      # dead instances left by an aborted run
    printf '\n==> test: molecule matrix: %s (%s at once)\n' "$*" "$PI_JOBS"
    for job in "$@" ""; do
        while [ ${#names[@]} -ge "$PI_JOBS" ] || { [ -z "$job" ] && [ ${#names[@]} -gt 0 ]; }; do
            rc=0; wait -n -p done_pid "${!names[@]}" || rc=$?
            log="$dir/${names[$done_pid]/:/-}.log"
            STEP_T0=${starts[$done_pid]} step "molecule ${names[$done_pid]/:/ on }" finished "$log" "$rc"
            unset "names[$done_pid]" "starts[$done_pid]"
        done
        [ -n "$job" ] || break
        scenario "${job%%:*}" "${job#*:}" >"$dir/${job/:/-}.log" 2>&1 &
        names[$!]=$job; starts[$!]=$SECONDS
    done
    rm -rf "$dir"
}
finished() {
    # finished LOG RC: a background run's output, then its exit code.
    cat "$1"
    return "$2"
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(lint unit molecule)
for g in "${groups[@]}"; do
    case $g in
        lint)
            step "yamllint" yamllint --strict .
            step "ansible-lint --profile production" ansible-lint --profile production
            step "ansible-playbook --syntax-check" syntax_check
            step "ruff + mypy --strict (pyproject.toml: updater, fakes, Molecule and role tests)" python_static
            step "shellcheck" shell_lint
            step "ansible-test sanity (the collection as built, Python 3.11, --venv)" collection_sanity
            step "antsibull-changelog lint (changelogs/fragments)" antsibull-changelog lint
            ;;
        unit)
            step "fakes/tests" pytest_in "$root/.venv/bin/python" fakes/tests
            step "roles/ddns/tests" pytest_in "$root/.venv/bin/python" roles/ddns/tests
            step "tests/test_collection.py (one version, changelog, contents)" pytest_in "$root/.venv/bin/python" tests/test_collection.py
            step "release tarball: two builds, same bytes" scripts/release.sh --check
            step "updater/tests" pytest_in "$UPY" updater/tests --cov=pi_ddns --cov-config=pyproject.toml --cov-report=term
            # The updater's venv drives pi_ddns; the tool venv renders the role's settings.
            step "tests/fleet: 500 Pis vs Cloudflare's rate limit (simulated)" pytest_in "$UPY" tests/fleet
            step "Pi 1 (emulated armv6l): offline install, changed and no-change runs" scripts/pi1.sh test
            step "updater/tests on Python 3.13 (trixie rootfs)" scripts/py-matrix.sh
            step "ansible-core 2.14 and 2.21 x bookworm and trixie (site.yml, idempotence, record)" scripts/controller-matrix.sh
            ;;
        molecule)
            runs=()
            for s in "${SCENARIOS[@]}"; do for v in $(suites_of "$s"); do runs+=("$s:$v"); done; done
            matrix "${runs[@]}"
            ;;
        molecule:*:*)
            g=${g#molecule:}; matrix "$g"
            ;;
        molecule:*)
            runs=(); for v in $(suites_of "${g#molecule:}"); do runs+=("${g#molecule:}:$v"); done
            matrix "${runs[@]}"
            ;;
        *) echo "unknown group $g (lint, unit, molecule, molecule:SCENARIO[:SUITE])" >&2; exit 2 ;;
    esac
done

t=$((SECONDS - t_all))
printf '\n==> test: %d steps ok, %d failed, in %dm%02ds\n' "${#passed[@]}" "${#failed[@]}" $((t / 60)) $((t % 60))
for f in "${failed[@]}"; do printf '    FAILED: %s\n' "$f"; done
[ ${#failed[@]} = 0 ]
