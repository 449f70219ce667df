#!/usr/bin/env bash
# Run one integration-health job from cron or a systemd timer.
#
#   run-job.sh NAME -- integration-health ARGS...
#
# Loads the environment file, holds a per-job lock so that runs never overlap
# on this host, bounds the runtime, appends the job's stderr (JSON logs) to a
# log file, and pings an optional dead-man's switch at start, success and
# failure. The job's exit code is this script's exit code; a failed ping is
# logged and never changes it.
#
# Settings (environment, or the environment file):
#   INTEGRATION_HEALTH_ENV       env file, default /etc/integration-health.env
#                                (optional: a missing file is skipped)
#   INTEGRATION_HEALTH_LOCK_DIR  lock files, default /tmp
#   INTEGRATION_HEALTH_LOG_DIR   log files (NAME.log), default
#                                /var/log/integration-health
#   JOB_TIMEOUT_SECONDS          runtime bound, default 900; exit 124 past it
#   HEALTHCHECK_URL              dead-man's switch base URL (optional): GET
#                                URL/start, URL on success, URL/EXITCODE on
#                                failure (the healthchecks.io convention)
#   HEALTHCHECK_TIMEOUT_SECONDS  per ping, default 5
set -uo pipefail

usage() {
    echo "usage: run-job.sh NAME -- integration-health ARGS..." >&2
    exit 2
}

name="${1:-}"
[ -n "$name" ] && [ "${2:-}" = "--" ] && [ $# -ge 3 ] || usage
case "$name" in *[!A-Za-z0-9._-]*) usage ;; esac
shift 2

env_file="${INTEGRATION_HEALTH_ENV:-/etc/integration-health.env}"
if [ -r "$env_file" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
fi

lock_dir="${INTEGRATION_HEALTH_LOCK_DIR:-/tmp}"
log_dir="${INTEGRATION_HEALTH_LOG_DIR:-/var/log/integration-health}"
job_timeout="${JOB_TIMEOUT_SECONDS:-900}"
ping_timeout="${HEALTHCHECK_TIMEOUT_SECONDS:-5}"
mkdir -p "$log_dir" "$lock_dir" || exit 2
log_file="$log_dir/$name.log"

log() { # level action message
    printf '{"time": "%s", "level": "%s", "logger": "run-job", "action": "%s", "job": "%s", "message": "%s"}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%S+0000)" "$1" "$2" "$name" "$3" >>"$log_file"
}

ping() { # suffix ("" for success)
    [ -n "${HEALTHCHECK_URL:-}" ] || return 0
    local url="${HEALTHCHECK_URL%/}${1:+/$1}"
    if ! curl -fsS -o /dev/null -m "$ping_timeout" --retry 0 "$url" 2>/dev/null; then
        log warning cron.ping.failed "dead-man's switch ping '${1:-success}' failed"
    fi
    return 0
}

exec 9>"$lock_dir/integration-health-$name.lock" || exit 2
if ! flock -n 9; then
    echo "integration-health $name: already running on this host; skipped"
    log info cron.lock.busy "already running on this host; skipped"
    exit 0
fi

# The CLI logs JSON for the log file; other commands run as given.
if [ "$(basename "$1")" = "integration-health" ]; then
    set -- "$1" --log-format json "${@:2}"
fi

ping start
timeout --kill-after=30 "$job_timeout" "$@" 2>>"$log_file"
rc=$?
if [ "$rc" -eq 124 ]; then
    log error cron.job.timeout "stopped after ${job_timeout}s"
fi
if [ "$rc" -eq 0 ]; then
    ping ""
else
    log error cron.job.failed "exit code $rc"
    ping "$rc"
fi
exit "$rc"
