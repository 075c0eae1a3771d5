"""The objective arena: RL objectives for reasoning, compared reproducibly."""
__version__ = "0.1.0"
