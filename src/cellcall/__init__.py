"""cellcall: the call-centre software of a prison workshop."""

__version__ = "0.1.0"
