#!/usr/bin/env bash
# Starts (or stops) an oxidask cluster over SSH: the scheduler on the first
# host, one worker on each of the others.
#
#   oxidask-ssh.sh start SCHEDULER_HOST WORKER_HOST...
#   oxidask-ssh.sh stop  SCHEDULER_HOST WORKER_HOST...
#
# Every host needs the same program: the stock `oxidask` binary (built-in
# ops only) or your own program, which becomes a worker when started with
# OXIDASK_WORKER_OF set (its `oxidask::init()` does that) — set
# OXIDASK_WORKER_PROGRAM to its path to start that instead of `oxidask worker`.
#
# Settings (environment):
#   OXIDASK_BIN             the oxidask binary on the hosts   (default: oxidask)
#   OXIDASK_WORKER_PROGRAM  your program, run as the workers  (default: none)
#   OXIDASK_PORT            scheduler port                    (default: 8786)
#   OXIDASK_DASHBOARD_PORT  dashboard port                    (default: 8787)
#   OXIDASK_LISTEN          host the scheduler listens on     (default: 0.0.0.0)
#   OXIDASK_NTHREADS        threads per worker                (default: all cores)
#   OXIDASK_MEMORY_LIMIT    bytes per worker                  (default: none)
#   OXIDASK_TOKEN           shared token; sent on ssh's stdin, never on a command line
#   OXIDASK_TLS_CA_FILE, OXIDASK_TLS_CERT, OXIDASK_TLS_KEY
#                           mutual TLS: the files' paths on the hosts (all three
#                           or none; each host's certificate must name that host)
#   OXIDASK_RUN_DIR         where pid and log files go on the hosts (default: /tmp/oxidask-$USER)
#   OXIDASK_SSH             the ssh command                   (default: ssh)
#
# Without OXIDASK_TOKEN anyone who reaches the port can run the program's
# functions: set one, or keep the hosts on a trusted network.
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
action=$1
shift
scheduler_host=$1
shift

bin=${OXIDASK_BIN:-oxidask}
program=${OXIDASK_WORKER_PROGRAM:-}
port=${OXIDASK_PORT:-8786}
dashboard_port=${OXIDASK_DASHBOARD_PORT:-8787}
listen=${OXIDASK_LISTEN:-0.0.0.0}
run_dir=${OXIDASK_RUN_DIR:-/tmp/oxidask-${USER:-oxidask}}
ssh_cmd=${OXIDASK_SSH:-ssh}
token=${OXIDASK_TOKEN:-}

# The TLS files' paths, as environment words for the remote commands.
tls_env=""
for v in OXIDASK_TLS_CA_FILE OXIDASK_TLS_CERT OXIDASK_TLS_KEY; do
    if [ -n "${!v:-}" ]; then
        tls_env+=" $v=$(printf '%q' "${!v}")"
    fi
done

# Runs a command line on a host, the token passed on stdin (so it shows in
# no process list); the remote side reads it into OXIDASK_TOKEN.
on_host() {
    local host=$1
    local script=$2
    printf '%s\n' "$token" | "$ssh_cmd" -o BatchMode=yes "$host" \
        "IFS= read -r OXIDASK_TOKEN; export OXIDASK_TOKEN; $script"
}

# Quotes a word for the remote shell.
q() {
    printf '%q' "$1"
}

# Starts `command` in the background on `host`, its pid in run_dir/name.pid
# and its output in run_dir/name.log.
start_on() {
    local host=$1 name=$2 command=$3
    local dir
    dir=$(q "$run_dir")
    # `mkdir … || exit 1;` (not `&&`): a list ending in `&` would run
    # whole in a background shell that holds ssh's output open.
    on_host "$host" "mkdir -p $dir || exit 1; nohup $command > $dir/$name.log 2>&1 < /dev/null & echo \$! > $dir/$name.pid"
}

stop_on() {
    local host=$1 name=$2
    local pidfile
    pidfile=$(q "$run_dir/$name.pid")
    on_host "$host" "if [ -f $pidfile ]; then kill \$(cat $pidfile) 2>/dev/null || true; rm -f $pidfile; fi"
}

case $action in
start)
    start_on "$scheduler_host" scheduler \
        "env$tls_env $(q "$bin") scheduler --host $(q "$listen") --port $(q "$port") --dashboard-port $(q "$dashboard_port")"
    # Workers give up if the scheduler is not listening yet: wait for it.
    probe=$listen
    [ "$probe" = 0.0.0.0 ] && probe=127.0.0.1
    if ! on_host "$scheduler_host" "bash -c 'for _ in \$(seq 100); do (exec 3<>/dev/tcp/$(q "$probe")/$(q "$port")) 2>/dev/null && exit 0; sleep 0.1; done; exit 1'"; then
        echo "the scheduler on $scheduler_host did not listen on port $port within 10 s; see $run_dir/scheduler.log there" >&2
        exit 1
    fi
    echo "scheduler on $scheduler_host:$port, dashboard http://$scheduler_host:$dashboard_port/status"
    i=0
    for host in "$@"; do
        args=()
        [ -n "${OXIDASK_NTHREADS:-}" ] && args+=(--nthreads "$OXIDASK_NTHREADS")
        [ -n "${OXIDASK_MEMORY_LIMIT:-}" ] && args+=(--memory-limit "$OXIDASK_MEMORY_LIMIT")
        name="worker-$i"
        if [ -n "$program" ]; then
            env_words="OXIDASK_WORKER_OF=$(q "$scheduler_host:$port") OXIDASK_WORKER_NAME=$(q "$host-$name") OXIDASK_WORKER_HOST=$(q "$host")$tls_env"
            [ -n "${OXIDASK_NTHREADS:-}" ] && env_words+=" OXIDASK_NTHREADS=$(q "$OXIDASK_NTHREADS")"
            [ -n "${OXIDASK_MEMORY_LIMIT:-}" ] && env_words+=" OXIDASK_MEMORY_LIMIT=$(q "$OXIDASK_MEMORY_LIMIT")"
            command="env $env_words $(q "$program")"
        else
            words=""
            for a in "${args[@]+"${args[@]}"}"; do
                words+=" $(q "$a")"
            done
            command="env$tls_env $(q "$bin") worker $(q "$scheduler_host:$port") --host $(q "$host") --name $(q "$host-$name")$words"
        fi
        start_on "$host" "$name" "$command"
        echo "worker $host-$name on $host"
        i=$((i + 1))
    done
    ;;
stop)
    i=0
    for host in "$@"; do
        stop_on "$host" "worker-$i"
        i=$((i + 1))
    done
    stop_on "$scheduler_host" scheduler
    ;;
*)
    usage
    ;;
esac
