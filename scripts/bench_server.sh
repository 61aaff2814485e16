# Sourced by the benchmark scripts: a private redis-server on a free
# loopback port. The caller defines the array PIDS (killed on exit).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # dir port [extra...] ; echoes pid
  local dir=$1 port=$2; shift 2
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --dbfilename dump.rdb --save '' \
    --appendonly no --daemonize no --logfile "$dir/log" "$@" >/dev/null 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 600); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then echo "$pid"; return; fi
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
