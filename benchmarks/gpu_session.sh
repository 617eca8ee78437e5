#!/usr/bin/env bash
# One lent-GPU session's checks, as one prepared script (the device tool's machine starts bare and is lent for
# minutes): bench_gpu.py at full size, then the --accelerator cuda plumbing end to end (train twice with one
# seed and compare, evaluate, attack, demo --quick) and one paper-scale adversarial epoch (ACC=cpu runs
# those on the CPU). Writes logs and JSON under $OUT (default ./gpu-out). Needs the wheels of
# what the machine's image lacks in .whl/ (see benchmarks/README.md, "GPU benchmark").
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PWD:/tmp/site
fi
{ nvidia-smi -L; python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } \
  2>&1 | tee "$OUT/env.txt"
timeout "${BENCH_S:-330}" python3 benchmarks/bench_gpu.py --compile --repeats 5 --json "$OUT/bench_gpu.json" 2>&1 \
  | tee "$OUT/bench_gpu.log"
# Plumbing: the CLI on CUDA, seeded twice.
ACC=${ACC:-cuda}
p() { timeout 120 python3 -m robust_snn "$@" --accelerator "$ACC" --quiet; }
{
  for run in a b; do
    start=$SECONDS
    p train --data synth-kws --method standard --epochs 2 --seed 0 --out "/tmp/$run.rsnn" --force
    echo "train $run ($ACC): rc $?, $((SECONDS - start)) s"
  done
  python3 - <<'PY'
from robust_snn import load_model
sa, sb = (load_model(f"/tmp/{r}.rsnn").state_dict() for r in "ab")
print("seeded train twice, state dicts bit-identical:", all(bool((sa[k] == sb[k]).all()) for k in sa))
PY
  p evaluate /tmp/a.rsnn --data synth-kws --device dynapse2 --chips 50 --json "/tmp/card_$ACC.json" && cp "/tmp/card_$ACC.json" "$OUT/"
  echo "evaluate ($ACC) rc $?"
  timeout 120 python3 -m robust_snn attack /tmp/a.rsnn --data synth-kws --eps 0.1 --repeats 2 --accelerator "$ACC" --json "/tmp/attack_$ACC.json" && cp "/tmp/attack_$ACC.json" "$OUT/"
  echo "attack ($ACC) rc $?"
  start=$SECONDS
  timeout "${DEMO_S:-150}" python3 -m robust_snn demo --quick --out /tmp/demo --accelerator "$ACC" --quiet > "$OUT/demo_$ACC.txt"
  echo "demo --quick ($ACC): rc $?, $((SECONDS - start)) s"
} 2>&1 | tee "$OUT/plumbing.log"
# One adversarial epoch of the paper's speech network (40 MFCC -> 256 recurrent adaptive LIF, batch 100) on
# synth-kws: 46 s on one core of the 2-core development machine.
cat > /tmp/paper.toml <<'TOML'
[train]
batch_size = 100
lr = 0.001

[network]
hidden = [256]
recurrent = true
adaptive = true
tau_mem = 0.2
tau_adapt = 0.98
TOML
start=$SECONDS
timeout "${PAPER_S:-120}" python3 -m robust_snn train --data 'synth-kws?features=mfcc40' --method adversarial \
  --config /tmp/paper.toml --epochs 1 --seed 0 --out /tmp/paper.rsnn --force --accelerator "$ACC" 2>&1 \
  | tail -3 | tee "$OUT/paper_epoch.log"
echo "paper-speech adversarial epoch ($ACC): $((SECONDS - start)) s (data loading included)" | tee -a "$OUT/paper_epoch.log"
