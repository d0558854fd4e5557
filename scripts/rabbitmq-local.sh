#!/usr/bin/env bash
# A local RabbitMQ cluster to measure against (scripts/rabbitmq-bench.mjs, docs/bench.md
# "RabbitMQ, measured here"): NODES nodes (default 3) on this host, each its own Erlang node
# (rabbitN@localhost) with its own AMQP port (5681, 5682, ...), distribution port (25681, ...),
# data and logs under one directory; loopback only (AMQP listeners, Erlang distribution and
# epmd all on 127.0.0.1); no plugins. Node 2.. join node 1, so a quorum queue declared on
# node 1 gets one replica on each node.
#
#   apt-get install -y rabbitmq-server          # Debian's package; its own service is not used
#   scripts/rabbitmq-local.sh start [NODES]     # prints the AMQP URLs
#   scripts/rabbitmq-local.sh status            # cluster members, queues with their replicas
#   scripts/rabbitmq-local.sh pids              # the nodes' PIDs, comma-separated
#   scripts/rabbitmq-local.sh stop              # stops every node and epmd, removes the directory
#
# RABBITMQ_LOCAL_DIR (default /tmp/quorumlog-rabbitmq) holds everything; `stop` removes it.
#
# The schedulers do not busy-wait (+sbwt none, likewise for the dirty schedulers), as RabbitMQ
# advises where the cores are shared: three nodes and the client share this machine's cores,
# and a spinning scheduler would take CPU another node needs.
set -euo pipefail

BASE="${RABBITMQ_LOCAL_DIR:-/tmp/quorumlog-rabbitmq}"
RABBIT_BIN=/usr/lib/rabbitmq/bin
AMQP_PORT_BASE=5680
DIST_PORT_BASE=25680

# Everything a rabbitmq-server or rabbitmqctl of node N needs in its environment.
node_env() {
  local n="$1"
  export HOME="$BASE"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CONF_ENV_FILE="$BASE/no-env.conf"
  export RABBITMQ_NODENAME="rabbit$n@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$((AMQP_PORT_BASE + n))
  export RABBITMQ_DIST_PORT=$((DIST_PORT_BASE + n))
  export RABBITMQ_CONFIG_FILE="$BASE/rabbit$n/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$BASE/rabbit$n/advanced.config"
  export RABBITMQ_MNESIA_BASE="$BASE/rabbit$n/mnesia"
  export RABBITMQ_LOG_BASE="$BASE/rabbit$n/log"
  export RABBITMQ_PID_FILE="$BASE/rabbit$n/pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
  export RABBITMQ_PLUGINS_EXPAND_DIR="$BASE/rabbit$n/plugins-expand"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
}

ctl() {
  local n="$1"
  shift
  (node_env "$n" && "$RABBIT_BIN/rabbitmqctl" -n "rabbit$n@localhost" "$@")
}

write_files() {
  local n="$1"
  mkdir -p "$BASE/rabbit$n/log" "$BASE/rabbit$n/mnesia"
  cat > "$BASE/rabbit$n/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$((AMQP_PORT_BASE + n))
disk_free_limit.absolute = 50MB
EOF
  echo '[].' > "$BASE/rabbit$n/advanced.config"
}

start_node() {
  local n="$1"
  write_files "$n"
  (node_env "$n" && setsid nohup "$RABBIT_BIN/rabbitmq-server" > "$BASE/rabbit$n/log/console.log" 2>&1 < /dev/null &
   echo $! > "$BASE/rabbit$n/server.pid")
  # `wait` follows the pid file the node writes as it boots, until the broker is running.
  ctl "$n" wait "$BASE/rabbit$n/pid" --timeout 120 > /dev/null
}

start() {
  local nodes="${1:-3}"
  if [ -e "$BASE" ]; then
    echo "rabbitmq-local: $BASE exists: stop first" >&2
    exit 1
  fi
  mkdir -p "$BASE"
  echo "$nodes" > "$BASE/nodes"
  head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$BASE/.erlang.cookie"
  chmod 400 "$BASE/.erlang.cookie"
  echo '[].' > "$BASE/enabled_plugins"
  : > "$BASE/no-env.conf"
  for n in $(seq 1 "$nodes"); do
    start_node "$n"
    if [ "$n" -gt 1 ]; then
      ctl "$n" stop_app > /dev/null
      ctl "$n" join_cluster rabbit1@localhost > /dev/null
      ctl "$n" start_app > /dev/null
    fi
  done
  ctl 1 await_online_nodes "$nodes" --timeout 120 > /dev/null
  for n in $(seq 1 "$nodes"); do
    echo "amqp://guest:guest@127.0.0.1:$((AMQP_PORT_BASE + n))"
  done
}

status() {
  ctl 1 cluster_status
  ctl 1 list_queues name type leader members messages
}

# The nodes' beam PIDs, comma-separated (for rabbitmq-bench.mjs --server-pids).
pids() {
  local nodes
  nodes="$(cat "$BASE/nodes")"
  local list=()
  for n in $(seq 1 "$nodes"); do list+=("$(cat "$BASE/rabbit$n/pid")"); done
  (IFS=,; echo "${list[*]}")
}

stop_node() {
  local n="$1"
  local pid_file="$BASE/rabbit$n/server.pid"
  [ -f "$pid_file" ] || return 0
  local pid
  pid="$(cat "$pid_file")"
  ctl "$n" shutdown --timeout 60 > /dev/null 2>&1 || true
  # The server's process group (the start script, beam and its helpers) if shutdown left any.
  if kill -0 "$pid" 2> /dev/null; then
    kill -TERM -- "-$pid" 2> /dev/null || true
    sleep 3
    kill -KILL -- "-$pid" 2> /dev/null || true
  fi
}

stop() {
  [ -d "$BASE" ] || { echo "rabbitmq-local: nothing at $BASE"; return 0; }
  local nodes
  nodes="$(cat "$BASE/nodes" 2> /dev/null || echo 3)"
  for n in $(seq "$nodes" -1 1); do
    stop_node "$n"
  done
  # epmd was started by the first node (loopback only); it outlives the nodes otherwise.
  ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill > /dev/null 2>&1 || true
  rm -rf "$BASE"
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  status) status ;;
  pids) pids ;;
  stop) stop ;;
  *) echo "usage: $0 start [NODES] | status | pids | stop" >&2; exit 2 ;;
esac
