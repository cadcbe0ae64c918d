#!/bin/bash
# Sourced by experiment scripts whose controls ran on another machine: equal wall clock compares
# only on the same kind of CPU (bf16 training needs AVX512_BF16; an AVX2-only EPYC searched about
# 3x slower than the AVX512_BF16 one on 2026-12-07). Stops with one line unless the CPU has
# every flag in CONTROLS_FLAGS (set by the caller) or FORCE=1 (then run the controls here too).
missing=()
for flag in ${CONTROLS_FLAGS:?}; do
  grep -qw "$flag" /proc/cpuinfo || missing+=("$flag")
done
if [ ${#missing[@]} -gt 0 ] && [ "${FORCE:-0}" != 1 ]; then
  echo "$0: this CPU lacks ${missing[*]}, which the controls' machine had" \
       "(${CONTROLS_MACHINE:-see the script}); run the controls here too, or FORCE=1" >&2
  exit 2
fi
