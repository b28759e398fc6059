#!/usr/bin/env bash
# A one-node Slurm cluster in a directory, for the test of the README's job-array script
# (tests/slurm.rs): munge with its own key and socket, slurmctld and slurmd on free ports,
# state, spool, logs and slurm.conf all under DIR, nothing under /etc or /run.
#
#   cluster.sh up DIR     start it and wait until its node is idle; prints the SLURM_CONF to
#                         use; exit 2 with "skip: ..." when Slurm or munge is missing
#   cluster.sh down DIR   cancel its jobs and stop its daemons
#
# Debian's packages: apt-get install slurm-wlm munge. slurmd runs jobs as the user who submits
# them, which needs root: a user who may sudo without a password gets the daemons started
# through sudo (and DIR handed back to them at `down`); anyone else gets exit 2 saying so.
set -euo pipefail
# The daemons live in sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: cluster.sh up|down DIR" >&2
  exit 1
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ "$cmd" = up ]; then
  for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "skip: $tool is not installed; apt-get install slurm-wlm munge"
      exit 2
    fi
  done
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n bash "$0" "$cmd" "$dir"
  fi
  echo "skip: slurmd runs jobs as their user, which needs root (or sudo without a password)"
  exit 2
fi

down() {
  if [ -f "$dir/slurm.conf" ]; then
    SLURM_CONF="$dir/slurm.conf" scancel --quiet --partition=test 2>/dev/null || true
  fi
  for daemon in slurmd slurmctld munged; do
    if [ -f "$dir/$daemon.pid" ]; then
      kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    fi
  done
  # slurmd's job steps (slurmstepd) end with it; give the daemons a moment to go.
  for _ in $(seq 50); do
    alive=0
    for daemon in slurmd slurmctld munged; do
      if [ -f "$dir/$daemon.pid" ] && kill -0 "$(cat "$dir/$daemon.pid")" 2>/dev/null; then
        alive=1
      fi
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
}

if [ "$cmd" = down ]; then
  down
  # Started through sudo: the directory goes back to the user who asked, who deletes it.
  if [ -n "${SUDO_UID:-}" ]; then
    chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$dir"
  fi
  exit 0
fi
[ "$cmd" = up ] || { echo "cluster.sh: unknown command '$cmd'; expected up or down" >&2; exit 1; }


# A free TCP port for each daemon (bind to port 0 and see what the kernel gave).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ctld_port="$(free_port)"
slurmd_port="$(free_port)"
node="$(hostname -s)"
cpus="$(nproc)"
memory_mb="$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
# The socket's directory is open to the user who submits (not written by them); the key is
# root's alone.
chmod 755 "$dir" "$dir/munge"

# munge: a fresh key of its own, readable by its owner only (munged refuses anything else).
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/seed"

cat >"$dir/slurm.conf" <<CONF
ClusterName=shaderfit-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF="$dir/slurm.conf"

slurmctld -i -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Up when the node reports idle (mixed or allocated would be another cluster's jobs).
for _ in $(seq 300); do
  state="$(sinfo -h -n "$node" -o %T 2>/dev/null || true)"
  if [ "$state" = idle ]; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.1
done
echo "the one-node cluster in $dir did not come up (node state '${state:-none}'); its logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munge/munged.log" >&2 || true
down
exit 1
