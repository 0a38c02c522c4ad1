"""Pure Block Kit builders: data in, payload dict out. Every payload passes check_message."""

from bot.blocks.limits import BlockLimitError, check_message, split_message

__all__ = ["BlockLimitError", "check_message", "split_message"]
