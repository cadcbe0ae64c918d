#!/bin/bash
# The split-half check of snapshot selection (docs/training.md, "Snapshots") on the 14 snapshot
# ladders of screens 25 and 28 that this session's machine still had (runs/ is not kept: the
# ladders' summaries are in experiments/results/snapshots_2026-12-07 and strength_screen28).
set -euo pipefail
cd "$(dirname "$0")/../../.."
R=runs
.venv/bin/python experiments/snapshot_selection.py \
 s25base0=$R/snap/ladder_screen25_base_s0_180,$R/snap/ladder_screen25_base_s0_200,$R/screen25/base_s0/ladders/base_s0/argmax_1200s \
 s25shape0=$R/snap/ladder_screen25_shape05_s0_180,$R/snap/ladder_screen25_shape05_s0_200,$R/screen25/shape05_s0/ladders/shape05_s0/argmax_1200s \
 s28base0=$R/screen28_s0/base_s0/ladders/snapshots/ckpt_00000240,$R/screen28_s0/base_s0/ladders/base_s0/argmax_1200s \
 s28reply0=$R/screen28_s0/reply_s0/ladders/snapshots/ckpt_00000240,$R/screen28_s0/reply_s0/ladders/reply_s0/argmax_1200s \
 s28base1=$R/screen28_s1/base_s1/ladders/snapshots/ckpt_00000240,$R/screen28_s1/base_s1/ladders/base_s1/argmax_1200s \
 s28reply1=$R/screen28_s1/reply_s1/ladders/snapshots/ckpt_00000220,$R/screen28_s1/reply_s1/ladders/reply_s1/argmax_1200s
