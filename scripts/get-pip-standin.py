"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test --venv makes each venv --without-pip and bootstraps pip with get-pip.py, fetched from
a host that is not a package registry (this machine reaches only the registries). get-pip.py is
`pip install ARGS` run from a pip it carries; this runs the same command from the pip wheel that
Debian ships for ensurepip (python3-pip-whl), so the requested pip comes from PyPI as usual.
scripts/test.sh (collection_sanity) puts it where ansible-test looks for its cached copy.
"""

import glob
import sys

wheels = sorted(glob.glob("/usr/share/python-wheels/pip-*.whl"))
if not wheels:
    sys.exit("get-pip stand-in: no /usr/share/python-wheels/pip-*.whl (Debian package python3-pip-whl)")
sys.path.insert(0, wheels[-1])

from pip._internal.cli.main import main  # noqa: E402

# get-pip.py's own options (not pip's): leave setuptools and wheel out, which plain pip does.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", *args]))
