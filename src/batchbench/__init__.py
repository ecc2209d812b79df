"""Logic of the llama-batched-bench Snakemake workflow: every rule's script calls into here."""

__version__ = "0.1.0"


class UserError(Exception):
    """A mistake in the user's input (config, model file, binary): shown without a traceback."""
