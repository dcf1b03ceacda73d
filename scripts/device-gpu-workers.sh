#!/usr/bin/env bash
# Issue 17's open question, on the GPU machine (the `device` tool): base 1920x1080 decoded through
# Dawn with the package's default arrangement (a symbols worker, its slices on 3 threads, the
# frames on the decoder's own device: benches/dawn.mjs's "slices on 3 threads" column) against
# the same frames rendered on N WebGPU threads of their own, each with its own device (the
# package's opt-in `gpuWorkers: N`; the bench's last column), for each N of GPU_THREADS (default
# "2 4"), ROUNDS rounds (default 2) alternating them, VQ_DAWN_PASSES passes a column (default 5);
# the GPU's memory sampled every 250 ms while they run ($OUT/gpu-memory.csv: what each extra
# device holds). Then native burn-wgpu on the same machine where the lab binary is carried
# ($CARRY/vqcodec-lab.xz; the carry limit may need it in a second call, CARRY=.carry7 DAWN=0 ...
# bash scripts/device-conv.sh, on the machine still warm).
#   carry [".gl", ".carry3"]:  CARRY=.carry3 bash scripts/device-gpu-workers.sh
# Output: $OUT/device-gpu-workers.txt (each round's table rows) and each round's whole output.
set -uo pipefail
export CARRY=${CARRY:-.carry3}
out=${OUT:-/tmp}
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader -lms 250 > "$out/gpu-memory.csv" 2>&1 &
sampler=$!
{
  for round in $(seq "${ROUNDS:-2}"); do
    for n in ${GPU_THREADS:-2 4}; do
      echo "== round $round, $n GPU threads, $(date +%T)"
      VQ_DAWN_PASSES=${VQ_DAWN_PASSES:-5} TESTS=0 KERNELS=none MODELS=base SIZES=1920x1080 \
        VQ_GPU_THREADS=$n VQ_GPU_IN_FLIGHT=$((2 * n)) bash scripts/device-conv.sh > /dev/null 2>&1
      cp "$out/device-conv.txt" "$out/round$round-gpu$n.txt"
      grep -E '^\| (model|base) ' "$out/device-conv.txt"
    done
  done
  echo "== done $(date +%T)"
} | tee "$out/device-gpu-workers.txt"
kill "$sampler"
