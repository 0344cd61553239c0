# Shared by bench/iscsi-vs-tgt and bench/replication: waiting for portals and the measurements.
# The caller sets: logs (a directory), dir and size (for tgt's LUN file), tgt_port, the associative arrays url and
# status (TARGET -> iscsi:// URL, ok or why not), perf_seconds, count4k, count4kqd1, count128k.

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_portal PORT PID SECONDS: until a TCP connect succeeds, the process dies, or the deadline passes.
wait_for_portal() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    port_in_use "$port" && return 0
    sleep 0.1
  done
  return 1
}

report_error() { echo "$2" >"$logs/$1.error"; return 1; }

# The whole machine's busy CPU time so far, in clock ticks (/proc/stat: user nice system irq softirq steal).
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# cpu_per_io TICKS IOS: microseconds of CPU (all cores, every process: initiator, target, replicas) per I/O.
cpu_per_io() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

# bench TARGET NAME -w|-r COUNT DEPTH SIZE: prints "IOPS MBPS CPU-µs-PER-IO" or fails. Every measurement starts with
# no dirty pages (sync): otherwise a cell pays for the writeback of the cells before it (tgt's LUN file and every
# replica's pool share this one disk), and the order of the targets in a row decides who pays.
qemu_bench() {
  local t=$1 name=$2 rw=$3 count=$4 depth=$5 bs=$6 out secs
  local args=(bench -f raw -c "$count" -d "$depth" -s "$bs" -S "$bs" -t none -i native)
  [ "$rw" = -w ] && args+=(-w)
  out="$logs/$t-$name.log"
  sync
  local busy=$(cpu_busy)
  if ! timeout 300 qemu-img "${args[@]}" "${url[$t]}" >"$out" 2>&1; then
    report_error "$t" "qemu-img bench ($name) failed: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1
  fi
  secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p' "$out")
  if [ -z "$secs" ]; then report_error "$t" "qemu-img bench ($name) printed no run time: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; fi
  busy=$(( $(cpu_busy) - busy ))
  awk -v c="$count" -v s="$secs" -v b="$(numfmt --from=iec "${bs^^}")" -v cpu="$(cpu_per_io "$busy" "$count")" \
    'BEGIN { iops = c / s; printf "%.0f %.1f %s\n", iops, iops * b / 1e6, cpu }'
}

perf_random_read() {
  local t=$1 out iops
  out="$logs/$t-randread.log"
  sync
  local busy=$(cpu_busy)
  # -t: run for that many seconds, then print the average. -b 8: 8 blocks of 512 bytes = 4 KiB.
  timeout $((perf_seconds + 60)) iscsi-perf -m 32 -b 8 -r -t "$perf_seconds" "${url[$t]}" >"$out" 2>&1
  busy=$(( $(cpu_busy) - busy ))
  iops=$(tr '\r' '\n' <"$out" | sed -n 's/^ *iops average \([0-9]*\) .*/\1/p' | tail -n 1)
  if [ -z "$iops" ]; then report_error "$t" "iscsi-perf printed no iops average: $(tr '\r' '\n' <"$out" | tail -n 3 | tr '\n' ' ')"; return 1; fi
  awk -v i="$iops" -v cpu="$(cpu_per_io "$busy" $((iops * perf_seconds)))" 'BEGIN { printf "%d %.1f %s\n", i, i * 4096 / 1e6, cpu }'
}

median() { sort -n | awk '{ v[NR] = $0 } END { if (NR == 0) exit 1; print v[int((NR + 1) / 2)] }'; }


# start_tgt: Debian's tgtd on 127.0.0.1:$tgt_port serving $dir/tgt-lun.img ($size, sparse) as LUN 1.
start_tgt() {
  if port_in_use "$tgt_port"; then status[tgt]="port $tgt_port is already in use (--tgt-port)"; return 1; fi
  truncate -s "$size" "$dir/tgt-lun.img"
  while :; do tgt_control=$((10000 + RANDOM % 20000)); [ -e "/var/run/tgtd/socket.$tgt_control" ] || break; done
  tgtd -f --iscsi "portal=127.0.0.1:$tgt_port" --control-port "$tgt_control" >"$logs/tgtd.log" 2>&1 &
  tgt_pid=$!
  disown "$tgt_pid"  # killed with SIGKILL at the end: no job notice for it
  local adm=(tgtadm -C "$tgt_control" --lld iscsi) deadline=$((SECONDS + 30))
  until "${adm[@]}" --op show --mode sys >/dev/null 2>&1; do
    if ! kill -0 "$tgt_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      status[tgt]="tgtd did not start: $(tail -n 5 "$logs/tgtd.log" | tr '\n' ' ')"; return 1
    fi
    sleep 0.1
  done
  if ! { "${adm[@]}" --op new --mode target --tid 1 -T iqn.2026-11.peer.tgt:bench &&
         "${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$dir/tgt-lun.img" &&
         "${adm[@]}" --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1 &&
         "${adm[@]}" --op bind --mode target --tid 1 -I ALL; } >>"$logs/tgtd.log" 2>&1; then
    status[tgt]="tgtadm failed: $(tail -n 5 "$logs/tgtd.log" | tr '\n' ' ')"; return 1
  fi
  if ! wait_for_portal "$tgt_port" "$tgt_pid" 30; then status[tgt]="tgtd does not listen on 127.0.0.1:$tgt_port"; return 1; fi
  # tgt puts its controller at LUN 0; the disk is LUN 1.
  url[tgt]="iscsi://127.0.0.1:$tgt_port/iqn.2026-11.peer.tgt:bench/1"
  status[tgt]=ok
}

measure() { # measure TARGET ROW: one measurement as "IOPS MBPS"
  case "$2" in
    w4k32)   qemu_bench "$1" w4k32 -w "$count4k" 32 4k;;
    r4k32)   qemu_bench "$1" r4k32 -r "$count4k" 32 4k;;
    w4k1)    qemu_bench "$1" w4k1 -w "$count4kqd1" 1 4k;;
    w128k8)  qemu_bench "$1" w128k8 -w "$count128k" 8 128k;;
    r128k8)  qemu_bench "$1" r128k8 -r "$count128k" 8 128k;;
    rr4k32)  perf_random_read "$1";;
  esac
}

