#!/bin/bash
# The reference recipe's seed 1 with ppo.value_search_mix=0.5, to the reference's 2,734 iterations
# (22,396,928 env steps); resumes if stopped.
set -euo pipefail
cd /work/wt_vsm
run=/work/exp/vsm05_2h/s1
py=/work/main/.venv/bin/python
if ls $run/ckpt_*.pt >/dev/null 2>&1; then
  $py -m keisei_fn.cli train --resume $run
else
  $py -m keisei_fn.cli train run_dir=$run seed=1 eval.every=0 ppo.value_search_mix=0.5 \
      time_budget_s=0 total_updates=2734 track.progress=false
fi
echo "done $(date)"
