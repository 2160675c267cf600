#!/bin/sh
# ctest entry for scripts/export_sklearn.py (tests/export_sklearn_test.py): skipped (exit 77) with
# a clear message when Debian's /usr/bin/python3 has no scikit-learn.
# Usage: export_sklearn_test.sh REPLAY_BINARY
if ! /usr/bin/python3 -c 'import sklearn, numpy' 2>/dev/null; then
  echo "SKIPPED: /usr/bin/python3 has no scikit-learn; install it with scripts/setup.sh" \
       "(Debian package python3-sklearn)"
  exit 77
fi
exec /usr/bin/python3 "$(dirname "$0")/export_sklearn_test.py" "$1"
