#!/usr/bin/env bash
# Install prodcat with the LSTM into .venv, then train and evaluate the reference LSTM.
#   bash scripts/train.sh                 # downloads the reference dataset (Zenodo 3355823) once, into the user cache
#   bash scripts/train.sh FILE [OPTIONS]  # a local catalog file instead, e.g. ecommerceDataset.csv
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[lstm]'
if [ $# -eq 0 ] || [[ "$1" == -* ]]; then
  PRODCAT_TRAIN_COMMAND="bash scripts/train.sh" .venv/bin/prodcat data download ecommerce
  exec .venv/bin/prodcat train --out models/ecommerce-lstm "$@"
fi
exec .venv/bin/prodcat train "$@"
