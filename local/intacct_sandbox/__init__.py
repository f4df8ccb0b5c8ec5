"""Local Sage Intacct XML Web Services sandbox (dev/test tool; never deployed)."""

from .server import Fault, IntacctSandbox

__all__ = ["Fault", "IntacctSandbox"]
