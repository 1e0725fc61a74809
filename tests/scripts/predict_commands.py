"""Runs mtrec-predict / mtrec-recommend calls in one fresh process, as a user's shell would.

Usage: python tests/scripts/predict_commands.py '[["predict_main", [ARGS...]], ...]'
Exits non-zero at the first call that does not return 0.
"""

import json
import sys

from mtrec.app import predict

for function, args in json.loads(sys.argv[1]):
    status = getattr(predict, function)(args)
    assert status == 0, f"{function}({args}) returned {status}"
