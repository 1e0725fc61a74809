"""Runs mtrec-predict / mtrec-recommend calls in one fresh process, as a user's shell would.

Usage: python tests/scripts/predict_commands.py '[["predict_main", [ARGS...]], ...]'
Exits non-zero at the first call that does not return 0. Its last line on stderr names the
modules of MLflow's that the process imported (the lookup runs in a process of its own: none).
"""

import json
import sys

from mtrec.app import predict

for function, args in json.loads(sys.argv[1]):
    status = getattr(predict, function)(args)
    assert status == 0, f"{function}({args}) returned {status}"

imported = sorted(m for m in ("mlflow", "sqlalchemy") if m in sys.modules)
print("mlflow modules imported:", imported, file=sys.stderr)
