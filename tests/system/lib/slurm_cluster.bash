# A throw-away one-node Slurm cluster on localhost for the system tests (sourced by
# slurm_test.sh; see /work/shared/notes/slurm-mpi-hdf5.md for the pitfalls this avoids):
# munged, slurmctld and slurmd as root, every file under $S, free ports, no systemd.
#   slurm_start DIR     start it; exports SLURM_CONF; the node advertises 4 CPUs and 2 GPUs
#                       (GRES counts without device files: --gpus-per-task works, nothing binds)
#   slurm_stop          scontrol shutdown, then wait for the daemons to exit (and munged)
#   slurm_wait_job ID TIMEOUT   poll `scontrol show job` every 0.25 s until it is finished;
#                       sets JOB_STATE, JOB_RESTARTS
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

slurm_start() {
  S=$1
  local host; host=$(hostname -s)
  mkdir -p "$S"/{etc,state,spool/slurmd-"$host",run,log,munge,munge-run}
  chmod 700 "$S/munge"; chmod 755 "$S/munge-run"  # munged refuses other modes
  mungekey -c -k "$S/munge/munge.key"
  munged --socket="$S/munge-run/munge.sock" --key-file="$S/munge/munge.key" \
    --pid-file="$S/munge-run/munged.pid" --log-file="$S/log/munged.log" --seed-file="$S/munge/munged.seed"
  cat >"$S/etc/slurm.conf" <<CONF
ClusterName=hsci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge-run/munge.sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/slurmd-%n
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd-%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 Gres=gpu:2 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  # Two stand-in GPU device files: slurmd's gres/gpu counts devices by their File=.
  mkdir -p "$S/dev" && touch "$S/dev/gpu0" "$S/dev/gpu1"
  printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s/dev/gpu[0-1]\n' "$host" "$S" >"$S/etc/gres.conf"
  export SLURM_CONF=$S/etc/slurm.conf
  (cd "$S" && exec slurmctld -D -i >"$S/log/slurmctld.out" 2>&1) & SLURMCTLD_PID=$!
  (cd "$S" && exec slurmd -D >"$S/log/slurmd.out" 2>&1) & SLURMD_PID=$!
  local state="" t0=$SECONDS
  for _ in $(seq 240); do
    state=$(sinfo -h -o %t 2>/dev/null || true)
    [ "$state" = idle ] && return 0
    case $state in inval*|drain*|down*) [ $((SECONDS - t0)) -gt 5 ] && break ;; esac
    sleep 0.25
  done
  echo "slurm node not idle: '$state'"; tail -n 20 "$S"/log/*.log "$S"/log/*.out
  return 1
}

slurm_stop() {
  [ -n "${SLURMCTLD_PID:-}" ] || return 0
  scontrol shutdown >/dev/null 2>&1 || true
  local p
  for p in $SLURMCTLD_PID $SLURMD_PID; do  # shutdown returns before the daemons exit
    for _ in $(seq 80); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -f "$S/munge-run/munged.pid" ] && kill "$(cat "$S/munge-run/munged.pid")" 2>/dev/null || true
  SLURMCTLD_PID=""
}

slurm_job_field() { scontrol show job "$1" -o 2>/dev/null | grep -oP "(^| )$2=\K\S+" || true; }

slurm_wait_job() {
  local id=$1 timeout=$2 t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$timeout" ]; do
    JOB_STATE=$(slurm_job_field "$id" JobState)
    JOB_RESTARTS=$(slurm_job_field "$id" Restarts)
    case $JOB_STATE in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) return 0 ;;
    esac
    sleep 0.25
  done
  JOB_STATE="TIMEOUT(test)"
}
