"""mlm AWS emulator: moto's server plus what moto 5.2.5 lacks for mlm's tests.

Run it with ``python -m mlm_aws_emulator --port 0``; see README.md.
"""

from .app import EmulatorApp, create_moto_app

__all__ = ["EmulatorApp", "create_moto_app"]
