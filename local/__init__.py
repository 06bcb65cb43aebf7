"""shardlab's offline runtime (local mode).

Local mode runs the project's Lambda code in-process, so the Lambda asset root (``lambdas/``) is on the import
path here just as it is in the Lambda runtime.
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.append(_LAMBDAS)
