#!/usr/bin/env bash
# Local, Docker-free Apache Kafka for tests and the demo: one KRaft node (broker + controller) on 127.0.0.1,
# run from the jars that deploy/local/pom.xml fetches from Maven Central.
#
#   kafka.sh fetch                                   fetch the jars into ${LEADFLOW_CACHE:-<repo>/.cache}/kafka/libs
#   kafka.sh start  [--port N] [--dir DIR] [--controller-port N]
#   kafka.sh stop   [--port N] [--dir DIR]
#   kafka.sh status [--port N] [--dir DIR]           exit 0 when running, 3 when not
#
# Defaults: port ${LEADFLOW_KAFKA_PORT:-9092}, dir <repo>/data/kafka-<port>.
# Environment: LEADFLOW_KAFKA_JVM_OPTS replaces the default JVM options,
#              LEADFLOW_KAFKA_START_TIMEOUT (seconds, default 60) bounds the wait for the broker.
# The broker logs to DIR/broker.log; the JVM's own output goes to DIR/stdout.log; the PID is in DIR/kafka.pid.
# Storage is formatted once (cluster id in DIR/cluster.id), so a restart on the same DIR keeps topics and data.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM="$SCRIPT_DIR/pom.xml"
CACHE_DIR="${LEADFLOW_CACHE:-$REPO_ROOT/.cache}"
KAFKA_CACHE="$CACHE_DIR/kafka"
LIBS_DIR="$KAFKA_CACHE/libs"
MARKER="$LIBS_DIR/.complete"
# Bump when fetch() itself changes what ends up in LIBS_DIR: forces a re-fetch.
FETCH_RECIPE=3

# Lean JVM: the serial GC and C1-only JIT start the broker about twice as fast as Kafka's G1 defaults
# (measured 3.4 s vs 8.6-10 s to ready on 2 cores) and are plenty for one local broker.
DEFAULT_JVM_OPTS="-Xms256m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto \
-Djava.awt.headless=true -XX:+ExitOnOutOfMemoryError"
TOOL_JVM_OPTS=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto -Djava.awt.headless=true)

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() { # usage [EXIT_CODE]: 0 prints to stdout (asked for help), otherwise to stderr
    local code=${1:-2}
    if [[ "$code" -eq 0 ]]; then
        sed -n '5,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    else
        sed -n '5,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    fi
    exit "$code"
}

now() { echo "${EPOCHREALTIME/,/.}"; }

elapsed() { # elapsed START -> seconds with one decimal
    awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'
}

# ---------------------------------------------------------------------------------------------------- fetch

recipe_id() {
    # What the marker records: the pom's content and this script's fetch recipe.
    { cat "$POM"; echo "recipe=$FETCH_RECIPE"; } | sha256sum | cut -d' ' -f1
}

run_mvn() { # run_mvn LOGFILE ARGS... ; quiet, batch mode, output kept for the error message
    local log=$1
    shift
    if ! mvn -q -B -f "$POM" "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2 || true
        die "Maven failed to fetch the Kafka jars (mvn $*); is Maven Central reachable? Full output: $log"
    fi
}

fetch() {
    local want tmp log
    want=$(recipe_id)
    if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn (Apache Maven) is not installed; it is needed once to fetch the Kafka jars"
    command -v java >/dev/null 2>&1 || die "java is not installed; Kafka needs Java 17 or newer"
    mkdir -p "$KAFKA_CACHE"
    # One fetch at a time (parallel test runs share the cache).
    exec 9>"$KAFKA_CACHE/.fetch.lock"
    flock 9
    if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]]; then
        exec 9>&-
        return 0
    fi
    echo "kafka: fetching the Kafka jars with Maven into $LIBS_DIR ..." >&2
    tmp="$KAFKA_CACHE/libs.tmp.$$"
    log="$KAFKA_CACHE/fetch.log"
    rm -rf "$KAFKA_CACHE"/libs.tmp.*  # leftovers of interrupted fetches (we hold the lock)
    mkdir -p "$tmp"
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp'" EXIT
    run_mvn "$log" dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven ran but fetched no kafka_2.13 jar into $tmp (see $POM)"
    rm -rf "$LIBS_DIR.old"
    if [[ -d "$LIBS_DIR" ]]; then
        mv "$LIBS_DIR" "$LIBS_DIR.old"
    fi
    mv "$tmp" "$LIBS_DIR"
    rm -rf "$LIBS_DIR.old"
    echo "$want" >"$MARKER"
    trap - EXIT
    echo "kafka: $(find "$LIBS_DIR" -maxdepth 1 -name '*.jar' | wc -l) jars in $LIBS_DIR" >&2
    exec 9>&-
}

# ---------------------------------------------------------------------------------------------------- helpers

PORT=""
DIR=""
CPORT=""

parse_args() { # parse_args COMMAND ARGS...
    local cmd=$1
    shift
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT=${2:?--port needs a value}; shift 2 ;;
            --port=*) PORT=${1#*=}; shift ;;
            --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
            --dir=*) DIR=${1#*=}; shift ;;
            --controller-port) CPORT=${2:?--controller-port needs a value}; shift 2 ;;
            --controller-port=*) CPORT=${1#*=}; shift ;;
            -h|--help) usage 0 ;;
            *) die "unknown argument: $1" ;;
        esac
    done
    PORT=${PORT:-${LEADFLOW_KAFKA_PORT:-9092}}
    [[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'"
    [[ -z "$CPORT" || "$CPORT" =~ ^[0-9]+$ ]] || die "--controller-port must be a number, got '$CPORT'"
    DIR=${DIR:-$REPO_ROOT/data/kafka-$PORT}
    if [[ "$cmd" == "start" ]]; then
        mkdir -p "$DIR"
    fi
    if [[ -d "$DIR" ]]; then
        DIR=$(cd "$DIR" && pwd)
    fi
    PID_FILE="$DIR/kafka.pid"
}

port_in_use() { # port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port_free() { # wait_port_free PORT: give a just-killed process up to 3 s to let go of PORT
    local i
    for ((i = 0; i < 30; i++)); do
        port_in_use "$1" || return 0
        sleep 0.1
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

proc_running() { # proc_running PID: some thread of the process is still alive
    # A SIGKILLed JVM shows its main thread as a zombie while its other threads still tear down and
    # hold its sockets: only when every thread is a zombie (or gone) are its ports free. Zombies also
    # linger when nobody reaps them (a container's PID 1), so "exists" is not "running".
    local pid=$1 task state
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    for task in "/proc/$pid/task/"*/stat; do
        # the state follows "(comm) ", and comm may hold spaces (JVM thread names do)
        state=$(sed 's/.*) //' "$task" 2>/dev/null | cut -d' ' -f1) || continue
        [[ -z "$state" || "$state" == "Z" || "$state" == "X" ]] || return 0
    done
    return 1
}

pid_alive() { # pid_alive PID: running and a Kafka broker (guards against a reused PID)
    proc_running "$1" || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

read_pid() {
    if [[ -f "$PID_FILE" ]]; then
        tr -dc '0-9' <"$PID_FILE" || true
    fi
}

# Answers when the broker serves Kafka API requests and lists itself as a live broker: a Metadata v4
# request over a plain socket. Fenced (not yet registered) brokers are left out of Metadata responses,
# so a non-empty broker list means topics can be created and served.
probe() {
    python3 - "$1" <<'PY'
import socket, struct, sys

port = int(sys.argv[1])
client_id = b"leadflow-probe"
# Metadata (api key 3) v4: topics = null (all), allow_auto_topic_creation = false
body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">i?", -1, False)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        while len(data) < 16:
            chunk = sock.recv(65536)
            if not chunk:
                sys.exit(1)
            data += chunk
except OSError:
    sys.exit(1)
# size, correlation id, throttle_time_ms, broker count
_size, correlation, _throttle, brokers = struct.unpack(">iiii", data[:16])
sys.exit(0 if correlation == 7 and brokers > 0 else 1)
PY
}

write_configs() {
    cat >"$DIR/server.properties" <<EOF
# Written by deploy/local/kafka.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/logs
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
# 5 rather than 50 partitions for the internal topics: the first consumer group (or transaction) on a
# fresh broker waits for them to be created, ~1 s less here; plenty for one local broker.
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted controller keeps the dead broker's registration until its session
# times out (default 9 s) and rejects the new one meanwhile: shorter, so crash-restart tests are quick.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF
    cat >"$DIR/log4j2.properties" <<EOF
# Broker logging (written by deploy/local/kafka.sh): INFO to $DIR/broker.log, chatty loggers at WARN.
status = warn
name = leadflow-local-kafka
appender.broker.type = File
appender.broker.name = BROKER
appender.broker.fileName = $DIR/broker.log
appender.broker.append = true
appender.broker.layout.type = PatternLayout
appender.broker.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.broker.ref = BROKER
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
    cat >"$DIR/tools-log4j2.properties" <<'EOF'
# Logging of the Kafka command-line tools run by deploy/local/kafka.sh: warnings to stderr.
status = warn
name = leadflow-kafka-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

new_cluster_id() {
    # Same format as `kafka.tools.StorageTool random-uuid` (Uuid.randomUuid: 16 random bytes,
    # URL-safe base64 without padding, never starting with '-'), without a JVM start.
    python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
'
}

format_storage() {
    [[ -f "$DIR/logs/meta.properties" ]] && return 0
    if [[ ! -s "$DIR/cluster.id" ]]; then
        new_cluster_id >"$DIR/cluster.id"
    fi
    if ! java "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$DIR/tools-log4j2.properties" -cp "$LIBS_DIR/*" \
        kafka.tools.StorageTool format --standalone -t "$(cat "$DIR/cluster.id")" \
        -c "$DIR/server.properties" >"$DIR/format.log" 2>&1; then
        cat "$DIR/format.log" >&2
        die "formatting the KRaft storage in $DIR/logs failed"
    fi
}

# ---------------------------------------------------------------------------------------------------- commands

start() {
    local t0 pid stored_cport running_port
    t0=$(now)
    fetch
    command -v python3 >/dev/null 2>&1 || die "python3 is needed (port checks and the readiness probe)"

    pid=$(read_pid)
    if pid_alive "$pid"; then
        running_port=$(sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$DIR/server.properties" 2>/dev/null || true)
        if [[ -n "$running_port" && "$running_port" != "$PORT" ]]; then
            die "a broker (pid $pid) from $DIR already runs on port $running_port; stop it first"
        fi
        if probe "$PORT"; then
            echo "kafka: already running on 127.0.0.1:$PORT (pid $pid)"
            return 0
        fi
        echo "kafka: a broker (pid $pid) from $DIR is already starting; waiting for it" >&2
        wait_ready "$t0"
        return 0
    fi
    rm -f "$PID_FILE"

    # The controller port is kept in DIR: the quorum recorded at format time names it.
    stored_cport=$(cat "$DIR/controller.port" 2>/dev/null || true)
    if [[ -n "$CPORT" && -n "$stored_cport" && "$CPORT" != "$stored_cport" ]]; then
        echo "kafka: note: $DIR was formatted with controller port $stored_cport; using $CPORT as asked" \
            "(works, but the first start on the new port is slower)" >&2
    fi
    CPORT=${CPORT:-$stored_cport}
    if [[ -z "$CPORT" ]]; then
        # the broker port is not bound yet, so the system may hand out that very port again: ask until it differs
        CPORT=$(free_port)
        while [[ "$CPORT" == "$PORT" ]]; do CPORT=$(free_port); done
    fi
    [[ "$CPORT" != "$PORT" ]] || die "the controller port must differ from the broker port ($PORT)"
    wait_port_free "$PORT" || die "port $PORT on 127.0.0.1 is already in use"
    wait_port_free "$CPORT" || die "controller port $CPORT on 127.0.0.1 is already in use"
    echo "$CPORT" >"$DIR/controller.port"

    write_configs
    format_storage

    echo "=== kafka.sh start $(date -u +%Y-%m-%dT%H:%M:%SZ) port=$PORT controller.port=$CPORT" >>"$DIR/broker.log"
    local jvm_opts
    read -r -a jvm_opts <<<"${LEADFLOW_KAFKA_JVM_OPTS:-$DEFAULT_JVM_OPTS}"
    # New session (so its own process group, no terminal signals); the inner shell writes its own PID
    # and then execs nohup, which execs java: the PID file holds the JVM's PID.
    # shellcheck disable=SC2016  # $$ and $1 belong to the inner shell
    setsid -f bash -c 'echo $$ >"$1"; shift; exec nohup "$@"' kafka-start "$PID_FILE" \
        java "${jvm_opts[@]}" -Dlog4j2.configurationFile="$DIR/log4j2.properties" -Dkafka.logs.dir="$DIR" \
        -cp "$LIBS_DIR/*" kafka.Kafka "$DIR/server.properties" \
        </dev/null >"$DIR/stdout.log" 2>&1
    wait_ready "$t0"
}

wait_ready() { # wait_ready T0: wait for the broker of PID_FILE to answer; report the time since T0
    local t0=$1 pid timeout deadline
    timeout=${LEADFLOW_KAFKA_START_TIMEOUT:-60}
    deadline=$(awk -v s="$(now)" -v t="$timeout" 'BEGIN { printf "%.3f", s + t }')
    pid=""
    while true; do
        [[ -n "$pid" ]] || pid=$(read_pid)
        if [[ -n "$pid" ]] && probe "$PORT"; then
            echo "kafka: ready on 127.0.0.1:$PORT (pid $pid) in $(elapsed "$t0") s"
            return 0
        fi
        if [[ -n "$pid" ]] && ! proc_running "$pid"; then
            start_failed "the broker process (pid $pid) exited"
        fi
        if awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
            start_failed "the broker did not answer on 127.0.0.1:$PORT within $timeout s"
        fi
        sleep 0.2
    done
}

start_failed() {
    local pid
    echo "kafka: $1" >&2
    echo "--- last lines of $DIR/broker.log" >&2
    tail -n 30 "$DIR/broker.log" >&2 2>/dev/null || true
    if [[ -s "$DIR/stdout.log" ]]; then
        echo "--- last lines of $DIR/stdout.log" >&2
        tail -n 15 "$DIR/stdout.log" >&2 || true
    fi
    pid=$(read_pid)
    if pid_alive "$pid"; then
        echo "kafka: stopping the broker that did not come up (pid $pid)" >&2
        stop_pid "$pid" >/dev/null
    fi
    rm -f "$PID_FILE"
    exit 1
}

wait_gone() { # wait_gone PID SECONDS: true once every thread of PID has exited
    local deadline
    deadline=$(awk -v s="$(now)" -v t="$2" 'BEGIN { printf "%.3f", s + t }')
    while proc_running "$1"; do
        awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n > d) }' && return 1
        sleep 0.1
    done
}

stop_pid() { # stop_pid PID: TERM, wait up to 20 s, then KILL; only this PID
    local pid=$1
    # Wait on the threads, not on pid_alive: a zombie's cmdline reads empty while its threads still exit.
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 20 && return 0
    echo "kafka: pid $pid did not stop within 20 s of SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid is still alive 10 s after SIGKILL"
}

stop() {
    local t0 pid
    t0=$(now)
    pid=$(read_pid)
    if [[ -z "$pid" ]]; then
        echo "kafka: not running (no $PID_FILE)"
        return 0
    fi
    if ! pid_alive "$pid"; then
        echo "kafka: not running (stale pid $pid); removing $PID_FILE"
        rm -f "$PID_FILE"
        return 0
    fi
    stop_pid "$pid"
    rm -f "$PID_FILE"
    echo "kafka: stopped (pid $pid) in $(elapsed "$t0") s"
}

status() {
    local pid
    pid=$(read_pid)
    if pid_alive "$pid"; then
        running_port=$(sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$DIR/server.properties" 2>/dev/null || true)
        if [[ -n "$running_port" && "$running_port" != "$PORT" ]]; then
            die "a broker (pid $pid) from $DIR already runs on port $running_port; stop it first"
        fi
        if probe "$PORT"; then
            echo "kafka: running on 127.0.0.1:$PORT (pid $pid), answering"
        else
            echo "kafka: running (pid $pid) but not answering on 127.0.0.1:$PORT"
        fi
        return 0
    fi
    echo "kafka: not running ($DIR)"
    return 3
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case "$cmd" in
        fetch) [[ $# -eq 0 ]] || die "fetch takes no arguments"; fetch ;;
        start) parse_args start "$@"; start ;;
        stop) parse_args stop "$@"; stop ;;
        status) parse_args status "$@"; status ;;
        -h|--help|help) usage 0 ;;
        *) die "unknown command: $cmd (fetch | start | stop | status)" ;;
    esac
}

main "$@"
