#!/usr/bin/env bash
# Rebuild the bundled default model (src/prodcat/bundled/ecommerce) from ../shared/data/ecommerce, seed 42:
# trained on the leakage-free train split of the normalized set (validation split: calibration and the review
# threshold), reported on its test split and on the raw-text sample, which it never trains on.
set -euo pipefail
cd "$(dirname "$0")/.."
PRODCAT=${PRODCAT:-.venv/bin/prodcat}
DATA=../shared/data/ecommerce
"$PRODCAT" train "$DATA/ecommerce_normalized.csv" --family linear --seed 42 --quiet --force \
  --out src/prodcat/bundled/ecommerce --report reports/bundled-model/test-split
"$PRODCAT" evaluate "$DATA/ecommerce_sample.csv" --model src/prodcat/bundled/ecommerce --report reports/bundled-model/raw-sample --force
du -sh src/prodcat/bundled/ecommerce
