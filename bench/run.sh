#!/bin/sh
# The mod_auth_mutual benchmark: builds the benchmark programs, then runs
# bench/run_bench.py, which starts a throw-away apache2 (event MPM) on
# 127.0.0.1 and compares, in the same run, no authentication, Basic (bcrypt),
# Digest and Mutual (full handshakes and session reuse, every algorithm),
# plus the server-side KAM3 crypto ceiling; session reuse with the Redis
# session store against shm, and logins through a round-robin balancer in
# front of two nodes sharing Redis. See docs/performance.md.
#
# Environment (defaults in bench/run_bench.py): BENCH_DURATION, BENCH_WARMUP,
# BENCH_CONCURRENCY, BENCH_ALGORITHMS, BENCH_CEILING_TIME, BENCH_SESSIONS_FEW,
# BENCH_SESSIONS_MANY, BENCH_SESSIONS_ALGORITHM, BENCH_PIN, BENCH_BCRYPT_COST,
# BENCH_REPEAT_FEW, BENCH_ROUNDS, BENCH_VERIFIERS, BENCH_PHASES, BENCH_NICE,
# BENCH_KEEP, BENCH_MODES, BENCH_MUTEX, BENCH_SCALING_ALGORITHM, BENCH_SCALING_TRANSPORT,
# BENCH_SCALING_CONCURRENCY, BENCH_SCALING_POOL_RATE, BENCH_STORE_ALGORITHM,
# BENCH_STORE_REPEAT, BENCH_STORE_MODES, BENCH_NODES_MODES, BENCH_NODES_MEMBER; B (build
# directory), HTTPD (apache2 binary). BENCH_PHASES (default: ceiling comparison sessions
# scaling; also store and nodes): scaling is full-handshake throughput with httpd on one
# CPU and on both; store is session reuse with Redis against shm; nodes is two nodes
# sharing Redis behind a round-robin balancer.
set -eu
cd "$(dirname "$0")/.."
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    make -s bench
fi
# In a session of its own (setsid forks when needed), so that BENCH_NICE can
# give the benchmark's scheduler autogroup a priority without touching the
# caller's.
if [ -n "${BENCH_NICE:-}" ] && command -v setsid >/dev/null 2>&1; then
    exec setsid -w python3 bench/run_bench.py "$@"
fi
exec python3 bench/run_bench.py "$@"
