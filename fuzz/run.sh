#!/bin/sh
# Runs libFuzzer targets for a bounded number of executions each.
#
#   sh fuzz/run.sh RUNS TARGET...      (make fuzz / make fuzz-smoke call this)
#
# For each target build/fuzz/<target> (FUZZ_B overrides build/fuzz):
#   - the seeds in fuzz/corpus/<name>/ (read only) and a scratch corpus in
#     $FUZZ_B/corpus/<name>/ (kept between runs, so coverage accumulates),
#   - exactly RUNS executions (-runs=RUNS) in one process, or in FUZZ_JOBS
#     processes of RUNS/FUZZ_JOBS each that share the scratch corpus (each
#     reloads what the others found), ASan leak checks on, a 10 s per-input
#     timeout, a 2 GiB RSS limit, inputs up to 4 KiB
#     unless fuzz/<name>.options says otherwise (header: 17000 octets, to
#     reach the 16 KiB limit),
#   - a crash, leak, timeout or sanitizer report stops the target: the input
#     is saved as $FUZZ_B/artifacts/<name>-crash-<sha1>, and the script fails.
# One summary line per target is printed and appended to $FUZZ_B/results.txt:
#   <target> runs=<N> jobs=<J> seconds=<S> exec_per_s=<R> corpus=<files> status=<ok|FAIL>
# Extra libFuzzer options may be passed in FUZZ_ARGS (e.g. -max_total_time=600).
# Logs: $FUZZ_B/logs/<name>.log (one process) or <name>.<i>.log (FUZZ_JOBS).
set -u
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: sh fuzz/run.sh RUNS TARGET..." >&2
    exit 2
fi
runs=$1
shift
B=${FUZZ_B:-build/fuzz}
jobs=${FUZZ_JOBS:-1}
case "$jobs" in
    ''|*[!0-9]*|0) echo "fuzz: FUZZ_JOBS must be a positive number" >&2; exit 2 ;;
esac
# Sums one libFuzzer statistic over the given logs (prints nothing if absent).
sum_stat() {
    stat=$1
    shift
    sed -n "s/^stat::$stat: *//p" "$@" | awk '{ n += $1; seen = 1 } END { if (seen) print n }'
}
mkdir -p "$B/artifacts" "$B/logs"
status=0
for target in "$@"; do
    name=${target#fuzz_}
    bin="$B/$target"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin not built" >&2
        status=1
        continue
    fi
    seeds="fuzz/corpus/$name"
    scratch="$B/corpus/$name"
    mkdir -p "$scratch" "$seeds"
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    # fuzz/<name>.options: extra libFuzzer flags of one target (e.g. -max_len)
    options="-max_len=4096"
    [ -f "fuzz/$name.options" ] && options=$(cat "fuzz/$name.options")
    # Each worker runs its share; the first takes the remainder.
    share=$((runs / jobs))
    first_share=$((runs - share * (jobs - 1)))
    logs=""
    pids=""
    start=$(date +%s)
    i=1
    while [ $i -le "$jobs" ]; do
        if [ "$jobs" -eq 1 ]; then log="$B/logs/$name.log"; else log="$B/logs/$name.$i.log"; fi
        n=$share
        [ $i -eq 1 ] && n=$first_share
        # shellcheck disable=SC2086
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            "$bin" -runs="$n" -timeout=10 -rss_limit_mb=2048 $options \
            -print_final_stats=1 -artifact_prefix="$B/artifacts/$name-" $dict \
            ${FUZZ_ARGS:-} "$scratch" "$seeds" >"$log" 2>&1 &
        pids="$pids $!"
        logs="$logs $log"
        i=$((i + 1))
    done
    rc=0
    for pid in $pids; do
        wait "$pid" || rc=$?
    done
    end=$(date +%s)
    seconds=$((end - start))
    # shellcheck disable=SC2086
    done_runs=$(sum_stat number_of_executed_units $logs)
    rate=""
    [ "$seconds" -gt 0 ] && [ -n "$done_runs" ] && rate=$((done_runs / seconds))
    files=$(find "$scratch" "$seeds" -type f | wc -l)
    if [ $rc -eq 0 ] && [ "${done_runs:-0}" -ge "$runs" ]; then
        result=ok
    else
        result=FAIL
        status=1
        for log in $logs; do
            echo "fuzz: $target failed (exit $rc); last lines of $log:" >&2
            tail -n 40 "$log" >&2
        done
    fi
    line="$target runs=${done_runs:-0} jobs=$jobs seconds=$seconds exec_per_s=${rate:-?} corpus=$files status=$result"
    echo "$line"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >>"$B/results.txt"
done
exit $status
